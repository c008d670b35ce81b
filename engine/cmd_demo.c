/* engine/cmd_demo.c - `tripline demo`: everything on one machine, nothing to install.
 *
 * Starts librdkafka's mock cluster on 127.0.0.1, a synthetic fleet that plays the scripted
 * incidents of fleet.h (7 days of quiet history in seconds, then 95 minutes of event time in
 * about two minutes), and the engine with the example rule pack, exactly as `tripline run` would run against real brokers. Each
 * alert is printed as it fires and resolves and produced to the alerts topic; at the end
 * the demo reads the alerts and dead-letter topics back and prints what they hold.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "fleet.h"
#include "gen.h"
#include "log.h"
#include "mock.h"
#include "rules.h"

static tl_engine *volatile demo_engine;
static _Atomic int demo_stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&demo_stop, 1);
    if (demo_engine)
        tl_engine_stop(demo_engine);
}

typedef struct gen_thread {
    tl_gen_opts o;
    tl_gen_result res;
    tl_engine *e;
    int rc;
    char err[256];
} gen_thread;

static void *gen_main(void *arg)
{
    gen_thread *g = arg;
    /* The mock broker keeps a bounded log per partition (a few MB) and drops the oldest: the
     * history burst must not start before the engine owns the partitions and reads along. */
    for (int i = 0; i < 3000 && !atomic_load(&demo_stop); i++) {
        tl_engine_stats st;
        tl_engine_stats_get(g->e, &st);
        if (st.partitions > 0)
            break;
        usleep(10000);
    }
    g->rc = tl_gen_run(&g->o, &g->res, g->err, sizeof g->err);
    if (g->rc < 0)
        fprintf(stderr, "demo: generator failed: %s\n", g->err);
    tl_engine_exit_at_end(g->e); /* all produced: stop once everything is consumed */
    return NULL;
}

typedef struct topic_count {
    long total, firing, resolved, resent; /* resent: re-sends of resolved notifications (in resolved) */
} topic_count;

/* Read a topic from the beginning to its end; count messages (and alert states). */
static int read_back(const char *brokers, const char *topic, int partitions, topic_count *c)
{
    memset(c, 0, sizeof *c);
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, e, sizeof e);
    rd_kafka_conf_set(conf, "group.id", "tripline-demo-readback", e, sizeof e);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", e, sizeof e);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk)
        return -1;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int eofs = 0, idle = 0;
    while (eofs < partitions && idle < 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!m->err) {
            c->total++;
            if (m->len && memmem(m->payload, m->len, "\"state\":\"firing\"", 16))
                c->firing++;
            else if (m->len && memmem(m->payload, m->len, "\"state\":\"resolved\"", 18)) {
                c->resolved++;
                c->resent += !memmem(m->payload, m->len, "\"resend\":0}", 11);
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}

static const char demo_usage[] =
    "usage: tripline demo [options]\n"
    "\n"
    "Start an embedded Kafka cluster (librdkafka's mock brokers on 127.0.0.1), a synthetic\n"
    "fleet of agents with scripted incidents (a policy violation, a tool outage, a latency\n"
    "spike, a prompt injection acted on, and recovery), and the engine with the example rule pack. Alerts are\n"
    "printed as they fire and resolve and produced to the topic tripline-alerts.\n"
    "\n"
    "  --rules PATH      rule file or directory (default rules)\n"
    "  --speed X         event time runs X times faster than the wall clock (default 45:\n"
    "                    the 95-minute scenario plays in about two minutes, after 7 days of\n"
    "                    quiet history sent in a few seconds for the cost baseline)\n"
    "  --threads N       engine worker threads (default 2)\n"
    "  --brokers N       mock brokers (default 1)\n"
    "  --format F        json | avro | mixed (default mixed)\n"
    "  --output-format F json | avro (default json)\n";

int tl_cmd_demo(int argc, char **argv)
{
    const char *rules = "rules";
    double speed = 45;
    int threads = 2, brokers = 1;
    tl_gen_format fmt = TL_GEN_MIXED;
    tl_output_format ofmt = TL_OUT_JSON;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(demo_usage, stdout);
            return TL_EXIT_OK;
        }
        if (!v) {
            fprintf(stderr, "tripline demo: unknown option or missing value: %s\n", a);
            return TL_EXIT_USAGE;
        }
        i++;
        if (strcmp(a, "--rules") == 0)
            rules = v;
        else if (strcmp(a, "--speed") == 0 && (speed = atof(v)) > 0)
            ;
        else if (strcmp(a, "--threads") == 0 && (threads = atoi(v)) >= 1 && threads <= 64)
            ;
        else if (strcmp(a, "--brokers") == 0 && (brokers = atoi(v)) >= 1 && brokers <= 5)
            ;
        else if (strcmp(a, "--format") == 0 && (strcmp(v, "json") == 0 || strcmp(v, "avro") == 0 || strcmp(v, "mixed") == 0))
            fmt = v[0] == 'j' ? TL_GEN_JSON : v[0] == 'a' ? TL_GEN_AVRO : TL_GEN_MIXED;
        else if (strcmp(a, "--output-format") == 0 && (strcmp(v, "json") == 0 || strcmp(v, "avro") == 0))
            ofmt = v[0] == 'j' ? TL_OUT_JSON : TL_OUT_AVRO;
        else {
            fprintf(stderr, "tripline demo: bad option %s %s (see --help)\n", a, v);
            return TL_EXIT_USAGE;
        }
    }
    char err[1024];
    tl_mock mock;
    if (tl_mock_start(&mock, brokers, err, sizeof err) < 0) {
        fprintf(stderr, "tripline demo: %s\n", err);
        return TL_EXIT_RUNTIME;
    }
    tl_mock_topic(&mock, "agent-traces", 6);
    tl_mock_topic(&mock, "tripline-alerts", 3);
    tl_mock_topic(&mock, "tripline-dlq", 1);

    tl_config cfg;
    tl_config_init(&cfg);
    char *rargv[] = {"--brokers", mock.bootstraps, "--rules", (char *)rules, "--print-alerts", "--stats-interval", "30s", "-X", "log_level=3"};
    int rc = TL_EXIT_USAGE;
    tl_program *prog = NULL;
    tl_engine *e = NULL;
    if (tl_cli_config(&cfg, (int)(sizeof rargv / sizeof rargv[0]), rargv) < 0)
        goto out;
    cfg.threads = threads;
    cfg.output_format = ofmt;
    cfg.eof_grace_ms = 250; /* the history runs ~140,000x faster than the wall clock */
    prog = tl_cli_load_rules(&cfg);
    if (!prog) {
        rc = TL_EXIT_RULES;
        goto out;
    }
    e = tl_engine_new(&cfg, prog, err, sizeof err);
    if (!e) {
        tl_log_redact(err, sizeof err); /* librdkafka's text may quote a secret property */
        fprintf(stderr, "tripline demo: %s\n", err);
        goto out;
    }
    demo_engine = e;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("tripline demo: embedded Kafka (mock, %d broker%s) at %s\n", brokers, brokers > 1 ? "s" : "", mock.bootstraps);
    printf("  %u rules from %s; synthetic fleet of 3 agent services writing to agent-traces\n", prog->nrules, rules);
    printf("  first 7 days of quiet history (the 7-day cost baseline), then the scenario, played %.0fx faster:\n"
           "  +2m policy violation, +3m..20m get_order_status outage, +22m..42m latency spike,\n"
           "  +45m prompt injection then a high-risk tool call, +46m..66m cost per request x6,\n"
           "  +50m prompt release support-v13 with 9%% invalid output until +62m, recovery from each;\n"
           "  alerts go to tripline-alerts, bad messages to tripline-dlq\n\n",
           speed);
    fflush(stdout);
    gen_thread g = {.e = e};
    g.o = (tl_gen_opts){.brokers = mock.bootstraps, .topic = "agent-traces", .format = fmt, .speed = speed,
                        .scenario = TL_FLEET_SCENARIO_DEMO, .seed = 7, .malformed_every = 20000, .stop = &demo_stop,
                        .history_ms = 7 * 86400000LL, .history_rate = 40000};
    pthread_t gt;
    if (pthread_create(&gt, NULL, gen_main, &g) != 0) {
        fprintf(stderr, "tripline demo: cannot start the generator thread\n");
        rc = TL_EXIT_RUNTIME;
        goto out;
    }
    int erc = tl_engine_run(e);
    atomic_store(&demo_stop, 1);
    pthread_join(gt, NULL);
    demo_engine = NULL;
    tl_engine_stats st;
    tl_engine_stats_get(e, &st);
    topic_count alerts, dlq;
    read_back(mock.bootstraps, "tripline-alerts", 3, &alerts);
    read_back(mock.bootstraps, "tripline-dlq", 1, &dlq);
    printf("\ndemo finished: %llu events produced, %llu consumed, %llu malformed\n",
           (unsigned long long)g.res.events, (unsigned long long)st.events, (unsigned long long)st.malformed);
    printf("  topic tripline-alerts holds %ld alert events (%ld firing, %ld resolved, %ld re-sends of a "
           "resolved notification)\n",
           alerts.total, alerts.firing, alerts.resolved - alerts.resent, alerts.resent);
    printf("  topic tripline-dlq holds %ld dead letters (%llu malformed messages were injected)\n", dlq.total,
           (unsigned long long)g.res.malformed);
    rc = erc ? TL_EXIT_RUNTIME : TL_EXIT_OK;
out:
    tl_engine_destroy(e);
    tl_program_destroy(prog);
    tl_config_fini(&cfg);
    tl_mock_stop(&mock);
    return rc;
}
