/* tests/unit/test_secrets.c - Kafka TLS/SASL settings pass through to librdkafka, and
 * secrets never appear in logs or error messages (issue 5, "Security").
 *
 * The secret here is "hunter2-pw" (and the user name "alice-the-user"). Each test feeds it
 * through one way tripline could print it: configuration errors for -X and for librdkafka
 * properties, librdkafka's own log lines (its `debug=conf` dump of every property, routed
 * through tl_log), and tl_log itself; stderr is captured at the file-descriptor level, so
 * whatever reached the terminal is checked, whoever wrote it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "output.h"
#include "rules.h"

#define PW "hunter2-pw"
#define USER "alice-the-user"
/* Secrets are registered for the life of the process: the log test uses its own, so that
 * only the path under test (tl_kafka_conf_set) can have registered them. */
#define DUMP_PW "dump-s3cret-pw"
#define DUMP_USER "dump-user-bob"

static void assert_absent(const char *text, const char *secret)
{
    if (strstr(text, secret))
        fail_msg("'%s' leaked in:\n%s", secret, text);
}

static void assert_has(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("'%s' not found in:\n%s", needle, text);
}

/* ---- stderr capture ------------------------------------------------------------------------ */

typedef struct capture {
    int saved;
    char path[64];
} capture;

static void capture_start(capture *c)
{
    fflush(stderr);
    snprintf(c->path, sizeof c->path, "/tmp/tl-secrets-%d.log", (int)getpid());
    FILE *f = fopen(c->path, "w");
    assert_non_null(f);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(f), 2) == 2);
    fclose(f);
}

/* Stop capturing; the captured text (caller frees). */
static char *capture_end(capture *c)
{
    fflush(stderr);
    assert_true(dup2(c->saved, 2) == 2);
    close(c->saved);
    FILE *f = fopen(c->path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    unlink(c->path);
    return buf;
}

static tl_program *load_rules(void)
{
    tl_rules_opts ro = {.lateness_ms = 30000, .lead_ms = 300000, .renotify_ms = 0};
    char rerr[1024] = "";
    tl_rules_errors errs = {rerr, sizeof rerr, 0, 0, 0};
    static const char rules[] = "rules:\n  - name: R\n    filter: kind == \"request\"\n    value: count()\n"
                                "    window: 1m\n    threshold: \"> 1\"\n    severity: info\n"
                                "    owner: o\n    runbook: https://r.example\n    summary: s\n";
    tl_program *prog = tl_rules_load_string("r.yaml", rules, sizeof rules - 1, &ro, &errs);
    if (!prog)
        fail_msg("rules: %s", rerr);
    return prog;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_secrets_property_names(void **state)
{
    (void)state;
    static const char *const secret[] = {
        "sasl.password", "SASL.Password", "sasl.username", "sasl.oauthbearer.config",
        "sasl.oauthbearer.client.secret", "ssl.key.password", "ssl.key.pem", "ssl.key.location",
        "ssl.keystore.password", "ssl.ca.pem", "ssl_key", "sasl.jaas.config", "my.api.token",
        "sasl.passwrd", "basic.auth.user.info.credentials", NULL};
    static const char *const plain[] = {
        "security.protocol", "sasl.mechanisms", "sasl.mechanism", "ssl.ca.location",
        "ssl.certificate.location", "bootstrap.servers", "client.id", "debug", "linger.ms",
        "ssl.endpoint.identification.algorithm", NULL};
    for (int i = 0; secret[i]; i++)
        if (!tl_config_prop_is_secret(secret[i]))
            fail_msg("%s should be secret", secret[i]);
    for (int i = 0; plain[i]; i++)
        if (tl_config_prop_is_secret(plain[i]))
            fail_msg("%s should not be secret", plain[i]);
}

/* kafka:, consumer:, producer: and -X reach librdkafka's configuration unchanged. */
static void test_secrets_tls_and_sasl_pass_through(void **state)
{
    (void)state;
    static const char yaml[] = "kafka:\n"
                               "  security.protocol: SASL_SSL\n"
                               "  sasl.mechanisms: SCRAM-SHA-512\n"
                               "  sasl.username: " USER "\n"
                               "  ssl.ca.location: /etc/ssl/certs/ca-certificates.crt\n"
                               "  ssl.endpoint.identification.algorithm: https\n"
                               "consumer:\n"
                               "  client.id: tripline-consumer\n"
                               "producer:\n"
                               "  client.id: tripline-producer\n";
    tl_config c;
    tl_config_init(&c);
    char err[512];
    assert_int_equal(tl_config_load_string(&c, "sec.yaml", yaml, sizeof yaml - 1, err, sizeof err), 0);
    char *argv[] = {"-X", "sasl.password=" PW, "-X", "ssl.key.password=key-" PW};
    assert_int_equal(tl_config_apply_args(&c, 4, argv, err, sizeof err), 0);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), 0);
    static const struct {
        const char *k, *v;
    } want[] = {{"security.protocol", "sasl_ssl"},
                {"sasl.mechanisms", "SCRAM-SHA-512"},
                {"sasl.username", USER},
                {"sasl.password", PW},
                {"ssl.key.password", "key-" PW},
                {"ssl.ca.location", "/etc/ssl/certs/ca-certificates.crt"},
                {"ssl.endpoint.identification.algorithm", "https"}};
    for (int client = 0; client < 2; client++) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        err[0] = '\0';
        assert_int_equal(tl_kafka_conf_set(conf, c.kafka, c.n_kafka, err, sizeof err), 0);
        if (client == 0)
            assert_int_equal(tl_kafka_conf_set(conf, c.consumer, c.n_consumer, err, sizeof err), 0);
        else
            assert_int_equal(tl_kafka_conf_set(conf, c.producer, c.n_producer, err, sizeof err), 0);
        char v[256];
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            size_t n = sizeof v;
            assert_int_equal(rd_kafka_conf_get(conf, want[i].k, v, &n), RD_KAFKA_CONF_OK);
            if (strcasecmp(v, want[i].v) != 0)
                fail_msg("%s: librdkafka has '%s', expected '%s'", want[i].k, v, want[i].v);
        }
        size_t n = sizeof v;
        assert_int_equal(rd_kafka_conf_get(conf, "client.id", v, &n), RD_KAFKA_CONF_OK);
        assert_string_equal(v, client == 0 ? "tripline-consumer" : "tripline-producer");
        rd_kafka_conf_destroy(conf);
    }
    tl_config_fini(&c);
}

/* Every error message about a property shows a secret as [redacted]. */
static void test_secrets_error_messages_redacted(void **state)
{
    (void)state;
    char err[512];
    /* a mistyped secret property: librdkafka rejects the name */
    static const tl_kv typo[] = {{"sasl.passwrd", PW}};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    err[0] = '\0';
    assert_int_equal(tl_kafka_conf_set(conf, typo, 1, err, sizeof err), -1);
    assert_absent(err, PW);
    assert_has(err, "sasl.passwrd=[redacted]");
    assert_has(err, "No such configuration property");
    /* a Java JAAS line, which librdkafka refuses, carries the password inside */
    static const tl_kv jaas[] = {
        {"sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required "
                             "username=\"" USER "\" password=\"" PW "\";"}};
    err[0] = '\0';
    assert_int_equal(tl_kafka_conf_set(conf, jaas, 1, err, sizeof err), -1);
    assert_absent(err, PW);
    assert_absent(err, USER);
    assert_has(err, "sasl.jaas.config=[redacted]");
    /* the name alone decides: a value too short to be scrubbed from text (TL_LOG_SECRET_MIN)
     * is still never shown */
    static const tl_kv shortpw[] = {{"sasl.passwrd", "q7z"}};
    err[0] = '\0';
    assert_int_equal(tl_kafka_conf_set(conf, shortpw, 1, err, sizeof err), -1);
    assert_absent(err, "q7z");
    assert_has(err, "sasl.passwrd=[redacted]");
    /* a non-secret property still shows its value (the message must stay useful) */
    static const tl_kv bad[] = {{"linger.ms", "soon"}};
    err[0] = '\0';
    assert_int_equal(tl_kafka_conf_set(conf, bad, 1, err, sizeof err), -1);
    assert_has(err, "linger.ms=soon");
    rd_kafka_conf_destroy(conf);

    /* -X arguments that are not key=value are not echoed past their property name */
    static const char *const args[][2] = {
        {"-X", "sasl.password:" PW}, {"-X", "=" PW}, {"-X", "sasl.password " PW}};
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        tl_config c;
        tl_config_init(&c);
        err[0] = '\0';
        assert_int_equal(tl_config_apply_args(&c, 2, (char **)args[i], err, sizeof err), -1);
        assert_absent(err, PW);
        assert_has(err, "-X");
        tl_config_fini(&c);
    }

    /* the engine refuses to start on it and says why, without the secret */
    tl_config c;
    tl_config_init(&c);
    char *argv[] = {"--brokers", "127.0.0.1:1", "-X", "sasl.passwrd=" PW, "-X", "log_level=0"};
    assert_int_equal(tl_config_apply_args(&c, 6, argv, err, sizeof err), 0);
    tl_program *prog = load_rules();
    err[0] = '\0';
    assert_null(tl_engine_new(&c, prog, err, sizeof err));
    assert_absent(err, PW);
    assert_has(err, "[redacted]");
    tl_program_destroy(prog);
    tl_config_fini(&c);
}

/* tl_log lines never carry a registered secret, whoever formatted them. */
static void test_secrets_tl_log_redacts(void **state)
{
    (void)state;
    assert_int_equal(tl_log_add_secret(PW), 0);
    assert_int_equal(tl_log_add_secret(PW), 0); /* again: kept once */
    assert_int_equal(tl_log_add_secret("ab"), 0); /* too short to redact, not an error */
    capture cap;
    capture_start(&cap);
    tl_log(TL_LOG_WARN, "login with %s failed (ab); retrying %s%s", PW, PW, PW);
    char *out = capture_end(&cap);
    assert_absent(out, PW);
    assert_has(out, "login with [redacted] failed (ab); retrying [redacted][redacted]");
    free(out);

    /* in place, cut to the buffer */
    char m[32] = "x " PW " y";
    tl_log_redact(m, sizeof m);
    assert_string_equal(m, "x [redacted] y");
    char small[14] = "ab " PW;
    tl_log_redact(small, sizeof small);
    assert_string_equal(small, "ab [redacted]");
    char tiny[8] = "a " "hunt";
    tl_log_redact(tiny, sizeof tiny); /* no whole secret: unchanged */
    assert_string_equal(tiny, "a hunt");
}

/* librdkafka's own log lines go through tl_log: with debug=conf librdkafka logs every property
 * it was given, for both the engine's consumer and its producer; the password must not be
 * there, even where it is the value of another property (client.id here), which librdkafka
 * itself would print as is. */
static void test_secrets_librdkafka_logs_redacted(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    char err[512];
    char *argv[] = {"--brokers", "127.0.0.1:1",
                    "-X", "security.protocol=SASL_PLAINTEXT",
                    "-X", "sasl.mechanism=PLAIN",
                    "-X", "sasl.username=" DUMP_USER,
                    "-X", "sasl.password=" DUMP_PW,
                    "-X", "client.id=" DUMP_PW,
                    "-X", "debug=conf"};
    assert_int_equal(tl_config_apply_args(&c, (int)(sizeof argv / sizeof argv[0]), argv, err, sizeof err), 0);
    assert_int_equal(tl_config_validate(&c, err, sizeof err), 0);
    tl_program *prog = load_rules();
    capture cap;
    capture_start(&cap);
    tl_engine *e = tl_engine_new(&c, prog, err, sizeof err);
    char *out = capture_end(&cap);
    if (!e)
        fail_msg("engine: %s", err);
    capture_start(&cap);
    tl_engine_destroy(e);
    char *out2 = capture_end(&cap);
    /* the dumps happened, through tl_log ("INFO  kafka <client.id>#consumer-1 CONF: ..."; the
     * client's name starts with its client.id, the secret here) */
    assert_has(out, "INFO  kafka [redacted]#producer-");
    assert_has(out, "INFO  kafka [redacted]#consumer-");
    assert_has(out, "sasl.password");
    assert_has(out, "client.id = [redacted]");
    assert_absent(out, DUMP_PW);
    assert_absent(out, DUMP_USER);
    assert_absent(out2, DUMP_PW);
    assert_absent(out2, DUMP_USER);
    free(out);
    free(out2);
    tl_program_destroy(prog);
    tl_config_fini(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secrets_property_names),
        cmocka_unit_test(test_secrets_librdkafka_logs_redacted),
        cmocka_unit_test(test_secrets_tls_and_sasl_pass_through),
        cmocka_unit_test(test_secrets_error_messages_redacted),
        cmocka_unit_test(test_secrets_tl_log_redacts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
