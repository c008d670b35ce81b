/* engine/cmd_mock.c - `tripline mock`: a standalone embedded Kafka cluster for local use.
 *
 * Any Kafka client can talk to it (kcat, tripline run, tripline gen), which makes it the
 * broker for trying tripline by hand and for the kcat end-to-end test. It prints its
 * bootstrap address on the first line of stdout and runs until SIGINT/SIGTERM or --duration.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mock.h"
#include "timefmt.h"

static volatile sig_atomic_t mock_stop;
static void on_signal(int sig) { (void)sig; mock_stop = 1; }

static const char mock_usage[] =
    "usage: tripline mock [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file F] [--duration D]\n"
    "\n"
    "Run librdkafka's mock Kafka cluster on 127.0.0.1 until interrupted. Prints the bootstrap\n"
    "address first. Default topics: agent-traces:6 tripline-alerts:3 tripline-dlq:1 (others are\n"
    "auto-created with 4 partitions on first use). Data lives in memory, with bounded retention.\n";

int tl_cmd_mock(int argc, char **argv)
{
    int brokers = 1;
    const char *topics[64], *bsfile = NULL;
    int ntopics = 0;
    int64_t duration = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(mock_usage, stdout);
            return TL_EXIT_OK;
        }
        if (!v) {
            fprintf(stderr, "tripline mock: %s needs a value\n", a);
            return TL_EXIT_USAGE;
        }
        i++;
        if (strcmp(a, "--brokers") == 0 && (brokers = atoi(v)) >= 1 && brokers <= 9)
            ;
        else if (strcmp(a, "--topic") == 0 && ntopics < 64 && strchr(v, ':') && atoi(strchr(v, ':') + 1) > 0)
            topics[ntopics++] = v;
        else if (strcmp(a, "--bootstrap-file") == 0)
            bsfile = v;
        else if (strcmp(a, "--duration") == 0 && tl_duration_parse(v, strlen(v), &duration, NULL) == 0)
            ;
        else {
            fprintf(stderr, "tripline mock: bad option %s %s (see --help)\n", a, v);
            return TL_EXIT_USAGE;
        }
    }
    char err[256];
    tl_mock m;
    if (tl_mock_start(&m, brokers, err, sizeof err) < 0) {
        fprintf(stderr, "tripline mock: %s\n", err);
        return TL_EXIT_RUNTIME;
    }
    if (!ntopics) {
        tl_mock_topic(&m, "agent-traces", 6);
        tl_mock_topic(&m, "tripline-alerts", 3);
        tl_mock_topic(&m, "tripline-dlq", 1);
    }
    for (int i = 0; i < ntopics; i++) {
        char name[256];
        const char *colon = strchr(topics[i], ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon - topics[i]), topics[i]);
        tl_mock_topic(&m, name, atoi(colon + 1));
    }
    printf("%s\n", m.bootstraps);
    fflush(stdout);
    if (bsfile) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", bsfile);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", m.bootstraps) < 0 || fclose(f) != 0 || rename(tmp, bsfile) != 0) {
            fprintf(stderr, "tripline mock: cannot write %s\n", bsfile);
            tl_mock_stop(&m);
            return TL_EXIT_RUNTIME;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct timespec t0, now, tick = {0, 100 * 1000000L};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!mock_stop) {
        nanosleep(&tick, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (duration && (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= duration)
            break;
    }
    tl_mock_stop(&m);
    return TL_EXIT_OK;
}
