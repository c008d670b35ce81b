/* tests/unit/test_config.c - defaults, the YAML file, flags on top, validation, messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "config.h"
#include "tl_test.h"

#define assert_contains(hay, needle)                                                           \
    do {                                                                                       \
        if (!strstr((hay), (needle)))                                                          \
            fail_msg("'%s' does not contain '%s'", (hay), (needle));                           \
    } while (0)

static char err[512];

static int load(tl_config *c, const char *yaml)
{
    err[0] = '\0';
    return tl_config_load_string(c, "t.yaml", yaml, strlen(yaml), err, sizeof err);
}

/* Load YAML into a fresh config and expect an error containing `want`. */
static void expect_file_error(const char *yaml, const char *want)
{
    tl_config c;
    tl_config_init(&c);
    if (load(&c, yaml) == 0)
        fail_msg("expected an error containing '%s' for:\n%s", want, yaml);
    assert_contains(err, want);
    tl_config_fini(&c);
}

static int args(tl_config *c, int argc, const char *const *argv)
{
    err[0] = '\0';
    return tl_config_apply_args(c, argc, (char **)argv, err, sizeof err);
}

#define ARGS(c, ...)                                                                           \
    args((c), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),             \
         (const char *const[]){__VA_ARGS__})

static void expect_flag_error(int argc, const char *const *argv, const char *want)
{
    tl_config c;
    tl_config_init(&c);
    if (args(&c, argc, argv) == 0)
        fail_msg("expected an error containing '%s' for %s", want, argv[0]);
    assert_contains(err, want);
    tl_config_fini(&c);
}

#define FLAG_ERR(want, ...)                                                                    \
    expect_flag_error((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),     \
                      (const char *const[]){__VA_ARGS__}, (want))

static const char *kv_get(const tl_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].val;
    return NULL;
}

static void test_config_defaults(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_string_equal(c.brokers, "localhost:9092");
    assert_string_equal(c.group, "tripline");
    assert_int_equal(c.n_inputs, 1);
    assert_string_equal(c.inputs[0], "agent-traces");
    assert_string_equal(c.output, "tripline-alerts");
    assert_string_equal(c.dlq, "tripline-dlq");
    assert_int_equal(c.n_rules, 1);
    assert_string_equal(c.rules[0], "rules");
    assert_int_equal(c.input_format, TL_IN_AUTO);
    assert_int_equal(c.output_format, TL_OUT_JSON);
    assert_int_equal(c.threads, 2);
    assert_int_equal(c.exit_at_end, 0);
    assert_null(c.avro_schema);
    assert_int_equal(c.n_registry, 0);
    assert_int_equal(c.lateness_ms, 30000);
    assert_int_equal(c.idle_timeout_ms, 10000);
    assert_int_equal(c.eof_grace_ms, 0);
    assert_int_equal(c.renotify_ms, 4 * 3600 * 1000);
    assert_int_equal(c.max_series, 100000);
    assert_int_equal(c.max_message_bytes, 1 << 20);
    assert_int_equal(c.sketch_max_bytes, 1 << 30);
    assert_int_equal(c.print_alerts, 0);
    assert_int_equal(c.stats_interval_ms, 0);
    assert_int_equal(c.shutdown_timeout_ms, 30000);
    assert_int_equal(c.n_kafka + c.n_consumer + c.n_producer, 0);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), 0);
    tl_config_fini(&c);
    tl_config_fini(&c); /* fini leaves it empty; a second fini is harmless */
    tl_config_fini(NULL);
}

static const char FULL[] =
    "brokers: k1:9092,k2:9092\n"
    "group: g1\n"
    "inputs: [in-a, in.b]\n"
    "output: out_x\n"
    "dlq: dead\n"
    "rules:\n"
    "  - r1.yaml\n"
    "  - rdir\n"
    "input_format: avro\n"
    "output_format: avro\n"
    "threads: 8\n"
    "exit_at_end: yes\n"
    "avro:\n"
    "  schema: s.avsc\n"
    "  registry:\n"
    "    7: seven.avsc\n"
    "    42: fortytwo.avsc\n"
    "window:\n"
    "  lateness: 1m\n"
    "  idle_timeout: 2s\n"
    "  eof_grace: 250ms\n"
    "alerts:\n"
    "  renotify_interval: 0\n"
    "  print: on\n"
    "limits:\n"
    "  max_series: 5000\n"
    "  max_message_bytes: 2048\n"
    "  sketch_max_bytes: 1000000\n"
    "stats_interval: 15s\n"
    "shutdown_timeout: 20s\n"
    "kafka:\n"
    "  security.protocol: SASL_SSL\n"
    "  socket.keepalive.enable: true\n"
    "  retries: 5\n"
    "consumer:\n"
    "  fetch.min.bytes: 1\n"
    "producer:\n"
    "  linger.ms: '20'\n";

static void test_config_full_file_parses(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(load(&c, FULL), 0);
    assert_string_equal(c.brokers, "k1:9092,k2:9092");
    assert_string_equal(c.group, "g1");
    assert_int_equal(c.n_inputs, 2);
    assert_string_equal(c.inputs[0], "in-a");
    assert_string_equal(c.inputs[1], "in.b");
    assert_string_equal(c.output, "out_x");
    assert_string_equal(c.dlq, "dead");
    assert_int_equal(c.n_rules, 2);
    assert_string_equal(c.rules[0], "r1.yaml");
    assert_string_equal(c.rules[1], "rdir");
    assert_int_equal(c.input_format, TL_IN_AVRO);
    assert_int_equal(c.output_format, TL_OUT_AVRO);
    assert_int_equal(c.threads, 8);
    assert_int_equal(c.exit_at_end, 1);
    assert_string_equal(c.avro_schema, "s.avsc");
    assert_int_equal(c.n_registry, 2);
    assert_int_equal(c.registry[0].id, 7);
    assert_string_equal(c.registry[0].path, "seven.avsc");
    assert_int_equal(c.registry[1].id, 42);
    assert_string_equal(c.registry[1].path, "fortytwo.avsc");
    assert_int_equal(c.lateness_ms, 60000);
    assert_int_equal(c.idle_timeout_ms, 2000);
    assert_int_equal(c.eof_grace_ms, 250);
    assert_int_equal(c.renotify_ms, 0);
    assert_int_equal(c.print_alerts, 1);
    assert_int_equal(c.max_series, 5000);
    assert_int_equal(c.max_message_bytes, 2048);
    assert_int_equal(c.sketch_max_bytes, 1000000);
    assert_int_equal(c.stats_interval_ms, 15000);
    assert_int_equal(c.shutdown_timeout_ms, 20000);
    assert_int_equal(c.n_kafka, 3);
    assert_string_equal(kv_get(c.kafka, c.n_kafka, "security.protocol"), "SASL_SSL");
    assert_string_equal(kv_get(c.kafka, c.n_kafka, "socket.keepalive.enable"), "true");
    assert_string_equal(kv_get(c.kafka, c.n_kafka, "retries"), "5");
    assert_string_equal(kv_get(c.consumer, c.n_consumer, "fetch.min.bytes"), "1");
    assert_string_equal(kv_get(c.producer, c.n_producer, "linger.ms"), "20");
    assert_int_equal(tl_config_validate(&c, err, sizeof err), 0);
    tl_config_fini(&c);
}

static void test_config_example_file_loads(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    err[0] = '\0';
    if (tl_config_load_file(&c, "tripline.example.yaml", err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), 0);
    /* the example documents the defaults */
    tl_config d;
    tl_config_init(&d);
    assert_string_equal(c.brokers, d.brokers);
    assert_string_equal(c.group, d.group);
    assert_string_equal(c.inputs[0], d.inputs[0]);
    assert_string_equal(c.output, d.output);
    assert_string_equal(c.dlq, d.dlq);
    assert_string_equal(c.rules[0], d.rules[0]);
    assert_int_equal(c.threads, d.threads);
    assert_int_equal(c.lateness_ms, d.lateness_ms);
    assert_int_equal(c.idle_timeout_ms, d.idle_timeout_ms);
    assert_int_equal(c.renotify_ms, d.renotify_ms);
    assert_int_equal(c.max_series, d.max_series);
    assert_int_equal(c.max_series_total, d.max_series_total);
    assert_int_equal(c.self_check_ms, d.self_check_ms);
    assert_int_equal(c.max_message_bytes, d.max_message_bytes);
    assert_int_equal(c.sketch_max_bytes, d.sketch_max_bytes);
    assert_int_equal(c.stats_interval_ms, d.stats_interval_ms);
    assert_null(c.avro_schema);
    assert_int_equal(c.n_registry, 1);
    assert_int_equal(c.registry[0].id, 1);
    tl_config_fini(&d);
    tl_config_fini(&c);
}

static void test_config_empty_file_and_sections(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(load(&c, ""), 0);
    assert_int_equal(load(&c, "# nothing\n"), 0);
    assert_int_equal(load(&c, "window:\nalerts: ~\nkafka:\navro: {schema: null}\n"), 0);
    assert_int_equal(c.lateness_ms, 30000);
    assert_string_equal(c.brokers, "localhost:9092");
    tl_config_fini(&c);
}

static void test_config_inputs_string_or_list(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(load(&c, "inputs: only-one\nrules: one.yaml\n"), 0);
    assert_int_equal(c.n_inputs, 1);
    assert_string_equal(c.inputs[0], "only-one");
    assert_int_equal(c.n_rules, 1);
    assert_string_equal(c.rules[0], "one.yaml");
    tl_config_fini(&c);
}

static void test_config_flags_override_file(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(load(&c, FULL), 0);
    assert_int_equal(ARGS(&c, "--config", "ignored.yaml", "--brokers", "b:1", "--group=g2",
                          "--input", "x1", "--input=x2", "--output", "o2", "--dlq=d2", "--rules",
                          "ra", "--rules", "rb", "--input-format", "json", "--output-format=json",
                          "--threads", "3", "--lateness", "5s", "--idle-timeout=1m", "--eof-grace", "1s",
                          "--renotify-interval", "1h", "--no-print-alerts", "--stats-interval",
                          "0", "--avro-schema", "other.avsc", "--max-series=77",
                          "--exit-at-end", "--shutdown-timeout", "0"),
                     0);
    assert_string_equal(c.brokers, "b:1");
    assert_string_equal(c.group, "g2");
    assert_int_equal(c.n_inputs, 2); /* the file's list was replaced, then appended to */
    assert_string_equal(c.inputs[0], "x1");
    assert_string_equal(c.inputs[1], "x2");
    assert_string_equal(c.output, "o2");
    assert_string_equal(c.dlq, "d2");
    assert_int_equal(c.n_rules, 2);
    assert_string_equal(c.rules[0], "ra");
    assert_string_equal(c.rules[1], "rb");
    assert_int_equal(c.input_format, TL_IN_JSON);
    assert_int_equal(c.output_format, TL_OUT_JSON);
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.lateness_ms, 5000);
    assert_int_equal(c.idle_timeout_ms, 60000);
    assert_int_equal(c.eof_grace_ms, 1000);
    assert_int_equal(c.renotify_ms, 3600000);
    assert_int_equal(c.print_alerts, 0);
    assert_int_equal(c.stats_interval_ms, 0);
    assert_string_equal(c.avro_schema, "other.avsc");
    assert_int_equal(c.max_series, 77);
    assert_int_equal(c.exit_at_end, 1);
    assert_int_equal(c.shutdown_timeout_ms, 0); /* 0: a stop does not wait for deliveries */
    /* untouched by flags: still from the file */
    assert_int_equal(c.n_registry, 2);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), 0);
    /* --print-alerts turns it back on; a later call's first --input replaces again */
    assert_int_equal(ARGS(&c, "--print-alerts", "--input", "y"), 0);
    assert_int_equal(c.print_alerts, 1);
    assert_int_equal(c.n_inputs, 1);
    assert_string_equal(c.inputs[0], "y");
    tl_config_fini(&c);
}

static void test_config_kafka_property_flags(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(load(&c, "kafka:\n  client.id: fromfile\n  acks: all\n"), 0);
    assert_int_equal(ARGS(&c, "-X", "client.id=fromflag", "-Xdebug=broker,topic", "-X",
                          "sasl.password=a=b", "-X", "empty.val="),
                     0);
    assert_int_equal(c.n_kafka, 5);
    assert_string_equal(kv_get(c.kafka, c.n_kafka, "client.id"), "fromflag");
    assert_string_equal(kv_get(c.kafka, c.n_kafka, "acks"), "all");
    assert_string_equal(kv_get(c.kafka, c.n_kafka, "debug"), "broker,topic");
    assert_string_equal(kv_get(c.kafka, c.n_kafka, "sasl.password"), "a=b");
    assert_string_equal(kv_get(c.kafka, c.n_kafka, "empty.val"), "");
    tl_config_fini(&c);

    FLAG_ERR("-X: expected key=value, got 'novalue'", "-X", "novalue");
    FLAG_ERR("-X: missing property name", "-X", "=v");
    FLAG_ERR("-X: missing value", "-X");
}

static void test_config_flag_errors(void **state)
{
    (void)state;
    FLAG_ERR("--threads: expected an integer in 1..64, got 'x'", "--threads", "x");
    FLAG_ERR("--threads: expected an integer in 1..64, got '0'", "--threads=0");
    FLAG_ERR("--threads: expected an integer in 1..64, got '65'", "--threads", "65");
    FLAG_ERR("--max-series: expected an integer in 1..", "--max-series", "-1");
    FLAG_ERR("unknown flag '--brokrs'", "--brokrs", "x");
    FLAG_ERR("unknown flag '-q'", "-q");
    FLAG_ERR("unexpected argument 'stray'", "stray");
    FLAG_ERR("--brokers: missing value", "--brokers");
    FLAG_ERR("--brokers: missing value (LIST), got the flag '--group'", "--brokers", "--group",
             "g");
    FLAG_ERR("--brokers: value must not be empty", "--brokers=");
    FLAG_ERR("--exit-at-end takes no value", "--exit-at-end=yes");
    FLAG_ERR("--lateness: invalid duration '10x'", "--lateness", "10x");
    FLAG_ERR("--idle-timeout: must be greater than 0", "--idle-timeout", "0");
    FLAG_ERR("--renotify-interval: invalid duration", "--renotify-interval", "-1h");
    FLAG_ERR("--stats-interval: invalid duration ''", "--stats-interval=");
    FLAG_ERR("--shutdown-timeout: invalid duration '-3s'", "--shutdown-timeout", "-3s");
    FLAG_ERR("--input: invalid topic name 'a b': invalid character", "--input", "a b");
    FLAG_ERR("--output: invalid topic name '': a topic name must not be empty", "--output=");
    FLAG_ERR("--dlq: invalid topic name '..'", "--dlq", "..");
    FLAG_ERR("--input: 'dup' is given twice", "--input", "dup", "--input", "dup");
    FLAG_ERR("--input-format: expected auto, json or avro, got 'xml'", "--input-format", "xml");
    FLAG_ERR("--output-format: expected json or avro, got 'auto'", "--output-format", "auto");
    FLAG_ERR("--rules: value must not be empty", "--rules", "");
    FLAG_ERR("--config: missing value", "--config");

    char long_topic[300];
    memset(long_topic, 'a', 250);
    long_topic[250] = '\0';
    FLAG_ERR("longer than 249 characters", "--output", long_topic);
}

static void test_config_failed_apply_leaves_config_unchanged(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(ARGS(&c, "--threads", "9", "--input", "a", "--lateness", "bad"), -1);
    assert_int_equal(c.threads, 2);
    assert_string_equal(c.inputs[0], "agent-traces");
    assert_int_equal(load(&c, "threads: 5\ngroup: g\nwindow: {lateness: 9q}\n"), -1);
    assert_int_equal(c.threads, 2);
    assert_string_equal(c.group, "tripline");
    tl_config_fini(&c);
}

static void test_config_unknown_key_suggests(void **state)
{
    (void)state;
    expect_file_error("threads: 2\nwindw:\n  lateness: 5s\n",
                      "t.yaml:2:1: unknown key 'windw' (did you mean 'window'?)");
    expect_file_error("window:\n  latenes: 5s\n",
                      "t.yaml:2:3: unknown key 'latenes' (did you mean 'lateness'?)");
    expect_file_error("alerts:\n  prnt: true\n", "t.yaml:2:3: unknown key 'prnt' (did you mean "
                                                 "'print'?)");
    expect_file_error("limits:\n  max_serie: 5\n", "did you mean 'max_series'?");
    expect_file_error("avro:\n  shema: x\n", "t.yaml:2:3: unknown key 'shema' (did you mean "
                                             "'schema'?)");
    expect_file_error("colour: blue\n", "t.yaml:1:1: unknown key 'colour' (expected one of: ");
}

static void test_config_duplicate_key(void **state)
{
    (void)state;
    expect_file_error("threads: 2\ngroup: a\nthreads: 3\n",
                      "t.yaml:3:1: duplicate key 'threads' (first defined at 1:1)");
}

static void test_config_wrong_types(void **state)
{
    (void)state;
    expect_file_error("threads: abc\n", "t.yaml:1:10: expected an integer in 1..64, got 'abc'");
    expect_file_error("threads: 100\n", "t.yaml:1:10: 100 is out of range 1..64");
    expect_file_error("exit_at_end: \"yes\"\n", "t.yaml:1:14: expected a boolean");
    expect_file_error("exit_at_end: maybe\n", "t.yaml:1:14: expected a boolean");
    expect_file_error("brokers: [a, b]\n", "t.yaml:1:10: expected a string, got a sequence");
    expect_file_error("group:\n", "t.yaml:1:7: expected a consumer group id, got nothing");
    expect_file_error("inputs: {a: 1}\n", "t.yaml:1:9: expected a topic name or a list of them, "
                                          "got a mapping");
    expect_file_error("inputs: []\n", "t.yaml:1:9: expected at least one entry");
    expect_file_error("inputs: [a, [b]]\n", "t.yaml:1:13: expected a string, got a sequence");
    expect_file_error("inputs:\n  - a\n  - b\n  - a\n", "t.yaml:4:5: 'a' is listed twice");
    expect_file_error("rules: [x, '']\n", "t.yaml:1:12: expected a rule file or directory, got "
                                          "nothing");
    expect_file_error("output: 'bad topic'\n", "t.yaml:1:9: invalid topic name 'bad topic': "
                                               "invalid character ' '");
    expect_file_error("dlq: a/b\n", "t.yaml:1:6: invalid topic name 'a/b'");
    expect_file_error("input_format: xml\n",
                      "t.yaml:1:15: expected one of auto, json, avro, got 'xml'");
    expect_file_error("output_format: auto\n",
                      "t.yaml:1:16: expected one of json, avro, got 'auto'");
    expect_file_error("window: 5s\n", "t.yaml:1:9: expected a mapping, got a string");
    expect_file_error("limits:\n  max_series: 0\n", "t.yaml:2:15: 0 is out of range 1..");
    expect_file_error("limits:\n  max_message_bytes: 1k\n", "t.yaml:2:22: expected an integer");
    expect_file_error("limits:\n  sketch_max_bytes: -5\n", "t.yaml:2:21: -5 is out of range");
    expect_file_error("alerts:\n  print: 1\n", "t.yaml:2:10: expected a boolean");
    expect_file_error("kafka: [a]\n", "t.yaml:1:8: expected a mapping of librdkafka properties, "
                                      "got a sequence");
    expect_file_error("kafka:\n  acks: [1]\n",
                      "t.yaml:2:9: property 'acks': expected a scalar value, got a sequence");
    expect_file_error("producer:\n  acks:\n", "t.yaml:2:8: property 'acks' has no value");
    expect_file_error("- a\n- b\n", "t.yaml:1:1: a config file must be a mapping of settings, "
                                    "got a sequence");
    expect_file_error("just a string\n", "t.yaml:1:1: a config file must be a mapping");
    expect_file_error("brokers: [\n", "t.yaml:2:1: ");
}

static void test_config_bad_durations(void **state)
{
    (void)state;
    expect_file_error("window:\n  lateness: 10x\n", "t.yaml:2:15: invalid duration '10x'");
    /* the number without a unit: the column is just past it */
    expect_file_error("window:\n  lateness: \"1h3\"\n",
                      "t.yaml:2:17: invalid duration '1h3': the last number has no unit");
    expect_file_error("window:\n  idle_timeout: 0\n", "t.yaml:2:17: must be greater than 0");
    expect_file_error("alerts:\n  renotify_interval: [1h]\n", "t.yaml:2:22: expected a duration");
    expect_file_error("stats_interval: -5s\n", "t.yaml:1:17: invalid duration '-5s'");
    expect_file_error("stats_interval: 400d\n", "t.yaml:1:17: '400d' is too long (at most 365d)");
    expect_file_error("shutdown_timeout: soon\n", "t.yaml:1:19: invalid duration 'soon'");
}

static void test_config_registry_ids(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(load(&c, "avro:\n  registry:\n    1: a.avsc\n    2147483647: max.avsc\n"),
                     0);
    assert_int_equal(c.n_registry, 2);
    assert_int_equal(c.registry[1].id, 2147483647u);
    /* a second file merges by id */
    assert_int_equal(load(&c, "avro:\n  registry:\n    1: b.avsc\n    5: five.avsc\n"), 0);
    assert_int_equal(c.n_registry, 3);
    assert_string_equal(c.registry[0].path, "b.avsc");
    assert_string_equal(c.registry[2].path, "five.avsc");
    tl_config_fini(&c);

    expect_file_error("avro:\n  registry:\n    0: a.avsc\n",
                      "t.yaml:3:5: 0 is out of range 1..2147483647");
    expect_file_error("avro:\n  registry:\n    2147483648: a.avsc\n",
                      "t.yaml:3:5: 2147483648 is out of range 1..2147483647");
    expect_file_error("avro:\n  registry:\n    abc: a.avsc\n",
                      "t.yaml:3:5: expected an integer in 1..2147483647, got 'abc'");
    expect_file_error("avro:\n  registry:\n    1: a.avsc\n    01: b.avsc\n",
                      "t.yaml:4:5: schema id 1 is listed twice (first at 3:5)");
    expect_file_error("avro:\n  registry:\n    1: a.avsc\n    1: b.avsc\n",
                      "t.yaml:4:5: duplicate key '1'");
    expect_file_error("avro:\n  registry:\n    3:\n", "t.yaml:3:7: expected a schema file path, "
                                                      "got nothing");
    expect_file_error("avro:\n  registry: [a.avsc]\n",
                      "t.yaml:2:13: expected a mapping of schema id to schema file");
    expect_file_error("avro:\n  schema: {x: 1}\n", "t.yaml:2:11: expected a string, got a "
                                                   "mapping");
}

static void test_config_validate_cross_field(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(ARGS(&c, "--output", "agent-traces"), 0);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "output (--output): 'agent-traces' is also an input topic");
    tl_config_fini(&c);

    tl_config_init(&c);
    assert_int_equal(load(&c, "inputs: [a, b]\ndlq: b\n"), 0);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "dlq (--dlq): 'b' is also an input topic");
    tl_config_fini(&c);

    tl_config_init(&c);
    assert_int_equal(ARGS(&c, "--dlq", "tripline-alerts"), 0);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "dlq (--dlq): 'tripline-alerts' is also the output topic");
    tl_config_fini(&c);

    /* fields set by a program rather than a file or flags */
    tl_config_init(&c);
    c.threads = 0;
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "threads (--threads): expected an integer in 1..64, got 0");
    c.threads = 2;
    c.lateness_ms = -1;
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "window.lateness (--lateness): must be 0 or more");
    c.lateness_ms = 0;
    c.idle_timeout_ms = 0;
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "window.idle_timeout (--idle-timeout): must be greater than 0");
    c.idle_timeout_ms = 1;
    c.max_series = 0;
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "limits.max_series (--max-series)");
    c.max_series = 1;
    tl_free(c.output);
    c.output = tl_strdup("has space");
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "output (--output): invalid topic name 'has space'");
    tl_free(c.output);
    c.output = tl_strdup("ok");
    for (size_t i = 0; i < c.n_inputs; i++)
        tl_free(c.inputs[i]);
    c.n_inputs = 0;
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "inputs (--input): at least one input topic is required");
    tl_config_fini(&c);
}

static void test_config_load_file_errors(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(tl_config_load_file(&c, "/nonexistent/tripline.yaml", err, sizeof err), -1);
    assert_contains(err, "/nonexistent/tripline.yaml: cannot open");
    tl_config_fini(&c);
}

/* state: checkpoints are off unless a directory is given; the file and the flags set them */
static void test_config_state_section(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_null(c.state_dir);
    assert_int_equal(c.checkpoint_interval_ms, 30000);
    assert_int_equal(c.fresh_state, 0);
    assert_int_equal(load(&c, "state:\n  dir: /var/lib/tripline\n  interval: 5s\n  on_unreadable: fresh\n"), 0);
    assert_string_equal(c.state_dir, "/var/lib/tripline");
    assert_int_equal(c.checkpoint_interval_ms, 5000);
    assert_int_equal(c.fresh_state, 1);
    assert_int_equal(ARGS(&c, "--state-dir", "/srv/t", "--checkpoint-interval", "250ms"), 0);
    assert_string_equal(c.state_dir, "/srv/t");
    assert_int_equal(c.checkpoint_interval_ms, 250);
    assert_int_equal(load(&c, "state:\n  dir: null\n"), 0);
    assert_null(c.state_dir);
    tl_config_fini(&c);
    tl_config_init(&c);
    assert_int_equal(ARGS(&c, "--fresh-state"), 0);
    assert_int_equal(c.fresh_state, 1);
    tl_config_fini(&c);
    expect_file_error("state:\n  on_unreadable: maybe\n", "t.yaml:2:18:");
    expect_file_error("state:\n  interval: 0\n", "t.yaml:2:13: must be greater than 0");
    expect_file_error("state:\n  dirr: x\n", "t.yaml:2:3:");
    FLAG_ERR("--state-dir: value must not be empty", "--state-dir", "");
}

/* limits.max_series_total and alerts.self_check_interval: defaults, file, flags, bad values */
static void test_config_cardinality_and_self_alerts(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(c.max_series_total, 1000000);
    assert_int_equal(c.self_check_ms, 60000); /* on by default */
    assert_int_equal(load(&c, "limits:\n  max_series: 500\n  max_series_total: 2000\n"
                              "alerts:\n  self_check_interval: 15s\n"), 0);
    assert_int_equal(c.max_series, 500);
    assert_int_equal(c.max_series_total, 2000);
    assert_int_equal(c.self_check_ms, 15000);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), 0);
    assert_int_equal(ARGS(&c, "--max-series-total", "300", "--self-check-interval", "0"), 0);
    assert_int_equal(c.max_series_total, 300); /* below max_series is allowed: the total binds first */
    assert_int_equal(c.self_check_ms, 0);     /* off */
    assert_int_equal(tl_config_validate(&c, err, sizeof err), 0);
    c.max_series_total = 0;
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "limits.max_series_total (--max-series-total)");
    c.max_series_total = 1;
    c.self_check_ms = -1;
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "alerts.self_check_interval (--self-check-interval)");
    tl_config_fini(&c);
    expect_file_error("limits:\n  max_series_total: 0\n", "t.yaml:2:21: 0 is out of range 1..");
    expect_file_error("limits:\n  max_series_totl: 5\n", "did you mean 'max_series_total'?");
    expect_file_error("alerts:\n  self_check_interval: often\n", "t.yaml:2:24:");
    FLAG_ERR("--max-series-total: expected an integer in 1..1000000000, got '0'", "--max-series-total", "0");
    FLAG_ERR("--self-check-interval: invalid duration 'x'", "--self-check-interval", "x");
}

/* ha.mode standby (lease.h): parsed from the file and --standby; refused without state (a
 * standby taking over must restore it) and with a lease topic that is another topic. */
static void test_config_standby(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(c.standby, 0);
    assert_string_equal(c.lease_topic, "tripline-lease");
    assert_int_equal(load(&c, "ha:\n  mode: standby\n  lease_topic: my-lease\nstate:\n  dir: st\n"), 0);
    assert_int_equal(c.standby, 1);
    assert_string_equal(c.lease_topic, "my-lease");
    assert_int_equal(tl_config_validate(&c, err, sizeof err), 0);
    tl_config_fini(&c);

    tl_config_init(&c);
    assert_int_equal(args(&c, 1, (const char *const[]){"--standby"}), 0);
    assert_int_equal(c.standby, 1);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "--standby) needs state.dir");
    tl_config_fini(&c);

    tl_config_init(&c);
    assert_int_equal(load(&c, "ha:\n  mode: standby\n  lease_topic: agent-traces\nstate:\n  dir: st\n"), 0);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "ha.lease_topic 'agent-traces' is also an input topic");
    tl_config_fini(&c);

    tl_config_init(&c);
    assert_int_equal(load(&c, "ha:\n  mode: standby\n  lease_topic: tripline-state\n"
                              "state:\n  dir: st\n  store: kafka\n"), 0);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), -1);
    assert_contains(err, "is also the output, dead-letter or state topic");
    tl_config_fini(&c);

    expect_file_error("ha:\n  mode: active\n", "t.yaml:2:");
    expect_file_error("ha:\n  leasetopic: x\n", "t.yaml:2:");
}

static void test_config_flags_help_lists_every_flag(void **state)
{
    (void)state;
    const char *h = tl_config_flags_help();
    static const char *const flags[] = {
        "--config FILE", "--brokers LIST", "--group ID", "--input TOPIC", "--output TOPIC",
        "--dlq TOPIC", "--rules PATH", "--input-format FMT", "--output-format FMT",
        "--threads N", "--exit-at-end", "-X KEY=VALUE", "--lateness DUR", "--idle-timeout DUR", "--eof-grace DUR",
        "--renotify-interval DUR", "--print-alerts", "--no-print-alerts", "--stats-interval DUR",
        "--avro-schema PATH", "--max-series N", "--state-dir DIR", "--checkpoint-interval DUR", "--fresh-state",
        "--heartbeat DUR", "--max-series-total N", "--self-check-interval DUR",
        "--shutdown-timeout DUR", NULL};
    for (int i = 0; flags[i]; i++)
        assert_contains(h, flags[i]);
    assert_contains(h, "(default: localhost:9092)");
    assert_contains(h, "(default: 30s)");
    assert_contains(h, "(default: 2)");
    /* every description starts in the same column: "  " + a 26-wide flag column + " " */
    int lines = 0;
    for (const char *line = h; *line; lines++) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(nl - line > 30);
        assert_true(line[0] == ' ' && line[1] == ' ' && line[2] == '-');
        assert_true(line[28] == ' ' && line[29] != ' ');
        line = nl + 1;
    }
    assert_int_equal(lines, 31);
    assert_ptr_equal(tl_config_flags_help(), h);
}

/* Every allocation failure point: an error and an unchanged config, never a leak. */
static void test_config_out_of_memory(void **state)
{
    (void)state;
    int ok = 0;
    for (int64_t n = 0; n < 2000 && !ok; n++) {
        tl_config c;
        tl_config_init(&c);
        tl_alloc_fail_after(n);
        int rc = load(&c, FULL);
        if (rc == 0)
            rc = ARGS(&c, "--input", "a", "-X", "k=v", "--rules", "r");
        tl_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            assert_string_equal(c.inputs[0], "a");
        } else {
            assert_contains(err, "out of memory");
        }
        tl_config_fini(&c);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_full_file_parses),
        cmocka_unit_test(test_config_example_file_loads),
        cmocka_unit_test(test_config_empty_file_and_sections),
        cmocka_unit_test(test_config_inputs_string_or_list),
        cmocka_unit_test(test_config_flags_override_file),
        cmocka_unit_test(test_config_kafka_property_flags),
        cmocka_unit_test(test_config_flag_errors),
        cmocka_unit_test(test_config_failed_apply_leaves_config_unchanged),
        cmocka_unit_test(test_config_unknown_key_suggests),
        cmocka_unit_test(test_config_duplicate_key),
        cmocka_unit_test(test_config_wrong_types),
        cmocka_unit_test(test_config_bad_durations),
        cmocka_unit_test(test_config_registry_ids),
        cmocka_unit_test(test_config_validate_cross_field),
        cmocka_unit_test(test_config_load_file_errors),
        cmocka_unit_test(test_config_state_section),
        cmocka_unit_test(test_config_cardinality_and_self_alerts),
        cmocka_unit_test(test_config_standby),
        cmocka_unit_test(test_config_flags_help_lists_every_flag),
        cmocka_unit_test(test_config_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
