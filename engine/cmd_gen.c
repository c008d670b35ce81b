/* engine/cmd_gen.c - `tripline gen`: the synthetic fleet against any brokers. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cli.h"
#include "fleet.h"
#include "gen.h"
#include "timefmt.h"

static _Atomic int gen_stop;
static void on_signal(int sig) { (void)sig; atomic_store(&gen_stop, 1); }

static const char gen_usage[] =
    "usage: tripline gen [options]\n"
    "\n"
    "Produce synthetic agent trace events (one JSON or Avro message per event) to Kafka.\n"
    "\n"
    "  --brokers LIST        bootstrap servers (default localhost:9092)\n"
    "  --topic T             topic (default agent-traces)\n"
    "  --format F            json | avro (Confluent framing, schema id 1) | avro-raw | mixed (default json)\n"
    "  --rate N              events per second of wall time (default 1000; 0 = as fast as possible)\n"
    "  --traces-per-sec N    trace arrival rate in event time (default 20); with --rate this sets how\n"
    "                        fast event time runs: speed = rate / (6.5 * traces-per-sec)\n"
    "  --scenario S          demo (scripted incidents over 95 minutes of event time) | none (default demo)\n"
    "  --duration D          event time to generate (default: the scenario's length; none: forever)\n"
    "  --count N             stop after N events\n"
    "  --start TIME          event time of the first trace, RFC 3339 (default: now minus the scenario)\n"
    "  --services N          1..3 services (default 3)\n"
    "  --seed N              random seed (default 42)\n"
    "  --malformed-every N   also send a malformed message every N events (default 0: never)\n"
    "  -X key=value          librdkafka producer property (repeatable)\n";

int tl_cmd_gen(int argc, char **argv)
{
    tl_gen_opts o = {.brokers = "localhost:9092", .topic = "agent-traces", .scenario = TL_FLEET_SCENARIO_DEMO};
    double rate = 1000;
    tl_kv props[64];
    size_t nprops = 0;
    int rc = TL_EXIT_USAGE;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(gen_usage, stdout);
            rc = TL_EXIT_OK;
            goto out;
        }
        if (!v) {
            fprintf(stderr, "tripline gen: %s needs a value\n", a);
            goto out;
        }
        i++;
        char *end = NULL;
        if (strcmp(a, "--brokers") == 0)
            o.brokers = v;
        else if (strcmp(a, "--topic") == 0)
            o.topic = v;
        else if (strcmp(a, "--format") == 0) {
            if (strcmp(v, "json") == 0)
                o.format = TL_GEN_JSON;
            else if (strcmp(v, "avro") == 0)
                o.format = TL_GEN_AVRO;
            else if (strcmp(v, "avro-raw") == 0)
                o.format = TL_GEN_AVRO_RAW;
            else if (strcmp(v, "mixed") == 0)
                o.format = TL_GEN_MIXED;
            else {
                fprintf(stderr, "tripline gen: --format: expected json, avro, avro-raw or mixed, got '%s'\n", v);
                goto out;
            }
        } else if (strcmp(a, "--rate") == 0) {
            rate = strtod(v, &end);
            if (*end || rate < 0) {
                fprintf(stderr, "tripline gen: --rate: expected a number >= 0, got '%s'\n", v);
                goto out;
            }
        } else if (strcmp(a, "--traces-per-sec") == 0) {
            o.traces_per_sec = strtod(v, &end);
            if (*end || o.traces_per_sec <= 0) {
                fprintf(stderr, "tripline gen: --traces-per-sec: expected a number > 0, got '%s'\n", v);
                goto out;
            }
        } else if (strcmp(a, "--scenario") == 0) {
            if (strcmp(v, "demo") == 0)
                o.scenario = TL_FLEET_SCENARIO_DEMO;
            else if (strcmp(v, "none") == 0)
                o.scenario = TL_FLEET_SCENARIO_NONE;
            else {
                fprintf(stderr, "tripline gen: --scenario: expected demo or none, got '%s'\n", v);
                goto out;
            }
        } else if (strcmp(a, "--duration") == 0) {
            if (tl_duration_parse(v, strlen(v), &o.duration_ms, NULL) < 0) {
                fprintf(stderr, "tripline gen: --duration: expected a duration such as 10m, got '%s'\n", v);
                goto out;
            }
        } else if (strcmp(a, "--count") == 0) {
            o.max_events = strtoull(v, &end, 10);
            if (*end) {
                fprintf(stderr, "tripline gen: --count: expected an integer, got '%s'\n", v);
                goto out;
            }
        } else if (strcmp(a, "--start") == 0) {
            if (tl_time_parse_rfc3339(v, strlen(v), &o.start_ms) < 0) {
                fprintf(stderr, "tripline gen: --start: expected an RFC 3339 time, got '%s'\n", v);
                goto out;
            }
        } else if (strcmp(a, "--services") == 0) {
            o.n_services = (int)strtol(v, &end, 10);
            if (*end || o.n_services < 1 || o.n_services > 3) {
                fprintf(stderr, "tripline gen: --services: expected 1..3, got '%s'\n", v);
                goto out;
            }
        } else if (strcmp(a, "--seed") == 0) {
            o.seed = strtoull(v, &end, 10);
        } else if (strcmp(a, "--malformed-every") == 0) {
            o.malformed_every = strtoull(v, &end, 10);
        } else if (strcmp(a, "-X") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || nprops >= 64) {
                /* not the argument itself: it may carry a secret (sasl.password:...) */
                fprintf(stderr, "tripline gen: -X: expected key=value (at most 64 of them)\n");
                goto out;
            }
            props[nprops].key = tl_strndup(v, (size_t)(eq - v));
            props[nprops].val = tl_strdup(eq + 1);
            nprops++;
        } else {
            fprintf(stderr, "tripline gen: unknown option '%s' (see --help)\n", a);
            goto out;
        }
    }
    if (o.scenario == TL_FLEET_SCENARIO_NONE && !o.duration_ms && !o.max_events)
        o.duration_ms = 0; /* forever, until SIGINT */
    double tps = o.traces_per_sec > 0 ? o.traces_per_sec : 20;
    o.speed = rate > 0 ? rate / (6.5 * tps) : 0;
    o.props = props;
    o.nprops = nprops;
    o.stop = &gen_stop;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    char err[512];
    tl_gen_result res;
    if (tl_gen_run(&o, &res, err, sizeof err) < 0) {
        fprintf(stderr, "tripline gen: %s\n", err);
        rc = TL_EXIT_RUNTIME;
        goto out;
    }
    fprintf(stderr, "gen: produced %llu events (%llu malformed) in %.1f s, %llu not delivered\n",
            (unsigned long long)res.events, (unsigned long long)res.malformed, res.wall_seconds,
            (unsigned long long)res.failed);
    rc = res.failed ? TL_EXIT_RUNTIME : TL_EXIT_OK;
out:
    for (size_t i = 0; i < nprops; i++) {
        tl_free(props[i].key);
        tl_free(props[i].val);
    }
    return rc;
}
