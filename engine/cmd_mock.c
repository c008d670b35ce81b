/* engine/cmd_mock.c - `tripline mock`: a standalone embedded Kafka cluster for local use.
 *
 * Any Kafka client can talk to it (kcat, tripline run, tripline gen), which makes it the
 * broker for trying tripline by hand and for the kcat end-to-end test. It prints its
 * bootstrap address on the first line of stdout and runs until SIGINT/SIGTERM or --duration.
 *
 * Faults can be injected from outside while it runs: SIGUSR1 takes brokers down for
 * --outage, SIGUSR2 pushes a burst of request errors and, with more than one broker, moves
 * every partition's leader; --control FILE takes the same faults as commands, aimed at given
 * brokers and topics (scripts/soak.sh uses it). The signal handlers only count the signals;
 * every librdkafka mock call runs on the main loop (within 100 ms), and each fault is logged
 * on stderr with its wall-clock time.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mock.h"
#include "timefmt.h"

static volatile sig_atomic_t mock_stop, mock_outages, mock_bursts;
static void on_signal(int sig) { (void)sig; mock_stop = 1; }
static void on_usr1(int sig) { (void)sig; mock_outages++; }
static void on_usr2(int sig) { (void)sig; mock_bursts++; }

static const char mock_usage[] =
    "usage: tripline mock [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file F] [--duration D]\n"
    "                     [--outage D] [--outage-broker ID|all] [--error-burst N] [--control FILE]\n"
    "\n"
    "Run librdkafka's mock Kafka cluster on 127.0.0.1 until interrupted. Prints the bootstrap\n"
    "address first. Default topics: agent-traces:6 tripline-alerts:3 tripline-dlq:1 (others are\n"
    "auto-created with 4 partitions on first use). Data lives in memory, with bounded retention\n"
    "(at most 5 MiB or 100,000 message sets per partition; older ones are dropped).\n"
    "\n"
    "  --brokers N            mock brokers, 1..9 (default 1); ids 1..N\n"
    "  --topic NAME:P         create topic NAME with P partitions (repeatable; replaces the defaults)\n"
    "  --bootstrap-file F     also write the bootstrap address to F (atomically)\n"
    "  --duration D           stop after D (default: run until SIGINT/SIGTERM)\n"
    "\n"
    "Fault injection into the running cluster (each fault is logged on stderr with its time):\n"
    "  SIGUSR1                broker outage: take the broker(s) down (connections closed, new ones\n"
    "                         refused) for --outage, then up again; a signal during an outage\n"
    "                         extends it to --outage from then\n"
    "  SIGUSR2                request errors: the next --error-burst Produce, Fetch and OffsetCommit\n"
    "                         requests (whichever broker and client sends them) fail with\n"
    "                         NOT_LEADER_FOR_PARTITION / REQUEST_TIMED_OUT (Fetch: also a dropped\n"
    "                         connection; OffsetCommit: NOT_COORDINATOR / REQUEST_TIMED_OUT); with\n"
    "                         --brokers > 1 also moves the leaders of the topics it created (round\n"
    "                         robin over all brokers, shifted by one at each signal)\n"
    "  --outage D             outage length for SIGUSR1 (default 8s)\n"
    "  --outage-broker ID|all which broker SIGUSR1 takes down (default all)\n"
    "  --error-burst N        errors per request type for SIGUSR2, 1..64 (default 4)\n"
    "  --control FILE         poll FILE (every 100 ms); when it appears, run the commands in it, one a\n"
    "                         line, then delete it (write FILE.tmp and rename it to FILE):\n"
    "                           outage all|ID[,ID...] [D]   those brokers down for D (default --outage)\n"
    "                           errors [N]                  the request errors of SIGUSR2, no leader move\n"
    "                           leaders TOPIC ID[,ID...]    spread TOPIC's partitions over those brokers\n"
    "                                                       (round robin, shifted by one at each call)\n"
    "                           leader TOPIC PARTITION ID   one partition's leader\n";

/* "2026-01-01T00:00:00.000Z mock: " prefix with the wall-clock time */
static void fault_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fault_log(const char *fmt, ...)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char when[40];
    tl_time_format_rfc3339((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, when, sizeof when);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s mock: %s\n", when, msg);
    fflush(stderr);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct topic_def {
    char name[256];
    int partitions;
    int rotation; /* leader moves so far (each shifts the round robin by one) */
} topic_def;

/* The running cluster and its fault state (main loop only). */
typedef struct mock_state {
    tl_mock m;
    int brokers, burst;
    int64_t outage_ms;
    topic_def topics[64];
    int ntopics;
    int64_t down_until[10]; /* per broker id, monotonic ms; 0 = up */
    int outages, bursts, moves;
} mock_state;

static void broker_list(const mock_state *s, const int *ids, int n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%d", i ? "," : "", ids[i]);
    if (n == s->brokers && n > 1 && used < cap)
        snprintf(buf + used, cap - used, " (all)");
}

/* Take brokers `ids` down for `ms` (an outage already running is extended to end then). */
static void outage(mock_state *s, const int *ids, int n, int64_t ms)
{
    int64_t now = mono_ms();
    for (int i = 0; i < n; i++) {
        if (!s->down_until[ids[i]])
            rd_kafka_mock_broker_set_down(s->m.mc, ids[i]);
        s->down_until[ids[i]] = now + ms;
    }
    char list[64];
    broker_list(s, ids, n, list, sizeof list);
    fault_log("fault: outage %d: broker %s down for %lld ms", ++s->outages, list, (long long)ms);
}

static void outages_end(mock_state *s, int64_t now, int all)
{
    int ids[10], n = 0;
    for (int b = 1; b <= s->brokers; b++)
        if (s->down_until[b] && (all || now >= s->down_until[b])) {
            rd_kafka_mock_broker_set_up(s->m.mc, b);
            s->down_until[b] = 0;
            ids[n++] = b;
        }
    if (n) {
        char list[64];
        broker_list(s, ids, n, list, sizeof list);
        fault_log("fault: broker %s up again", list);
    }
}

static void error_burst(mock_state *s, int n)
{
    rd_kafka_resp_err_t produce[64], fetch[64], commit[64];
    for (int i = 0; i < n; i++) {
        produce[i] = i % 2 ? RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT : RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
        fetch[i] = i % 3 == 0   ? RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION
                   : i % 3 == 1 ? RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT
                                : RD_KAFKA_RESP_ERR__TRANSPORT;
        commit[i] = i % 2 ? RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT : RD_KAFKA_RESP_ERR_NOT_COORDINATOR;
    }
    rd_kafka_mock_push_request_errors_array(s->m.mc, 0 /* Produce */, (size_t)n, produce);
    rd_kafka_mock_push_request_errors_array(s->m.mc, 1 /* Fetch */, (size_t)n, fetch);
    rd_kafka_mock_push_request_errors_array(s->m.mc, 8 /* OffsetCommit */, (size_t)n, commit);
    fault_log("fault: request errors %d: the next %d Produce (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT), "
              "Fetch (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT, transport) and OffsetCommit "
              "(NOT_COORDINATOR, REQUEST_TIMED_OUT) requests fail",
              ++s->bursts, n);
}

/* Spread topic t's partitions round robin over brokers ids[0..n), shifted by one more than
 * the last time, so that each call changes the leader of every partition (n > 1). */
static void move_leaders(mock_state *s, topic_def *t, const int *ids, int n)
{
    int moved = 0, shift = ++t->rotation;
    for (int p = 0; p < t->partitions; p++)
        moved += rd_kafka_mock_partition_set_leader(s->m.mc, t->name, p, ids[(p + shift) % n]) ==
                 RD_KAFKA_RESP_ERR_NO_ERROR;
    char list[64];
    broker_list(s, ids, n, list, sizeof list);
    s->moves++;
    fault_log("fault: leaders of %s moved: %d of %d partitions spread over broker %s (rotation %d)", t->name,
              moved, t->partitions, list, shift);
}

/* "all" or "1,3" -> ids; returns the count, or -1 */
static int parse_brokers(const mock_state *s, const char *v, int *ids)
{
    int n = 0;
    if (strcmp(v, "all") == 0) {
        for (int b = 1; b <= s->brokers; b++)
            ids[n++] = b;
        return n;
    }
    for (const char *p = v; *p;) {
        char *end;
        long b = strtol(p, &end, 10);
        if (end == p || b < 1 || b > s->brokers || n >= 9)
            return -1;
        ids[n++] = (int)b;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n ? n : -1;
}

static topic_def *find_topic(mock_state *s, const char *name)
{
    for (int i = 0; i < s->ntopics; i++)
        if (strcmp(s->topics[i].name, name) == 0)
            return &s->topics[i];
    return NULL;
}

static void control_line(mock_state *s, char *line)
{
    char orig[512];
    snprintf(orig, sizeof orig, "%.*s", (int)strcspn(line, "\r\n"), line);
    char *w[5] = {0};
    int nw = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok && nw < 5; tok = strtok(NULL, " \t\r\n"))
        w[nw++] = tok;
    if (!nw || w[0][0] == '#')
        return;
    int ids[10], n;
    int64_t ms = s->outage_ms;
    topic_def *t;
    if (strcmp(w[0], "outage") == 0 && nw <= 3 && (n = parse_brokers(s, nw > 1 ? w[1] : "all", ids)) > 0 &&
        (nw < 3 || (tl_duration_parse(w[2], strlen(w[2]), &ms, NULL) == 0 && ms > 0)))
        outage(s, ids, n, ms);
    else if (strcmp(w[0], "errors") == 0 && nw <= 2 && (nw < 2 || (atoi(w[1]) >= 1 && atoi(w[1]) <= 64)))
        error_burst(s, nw > 1 ? atoi(w[1]) : s->burst);
    else if (strcmp(w[0], "leaders") == 0 && nw == 3 && (t = find_topic(s, w[1])) &&
             (n = parse_brokers(s, w[2], ids)) > 0)
        move_leaders(s, t, ids, n);
    else if (strcmp(w[0], "leader") == 0 && nw == 4 && (t = find_topic(s, w[1])) && atoi(w[2]) >= 0 &&
             atoi(w[2]) < t->partitions && parse_brokers(s, w[3], ids) == 1) {
        rd_kafka_resp_err_t err = rd_kafka_mock_partition_set_leader(s->m.mc, t->name, atoi(w[2]), ids[0]);
        fault_log("fault: leader of %s[%d] now broker %d%s", t->name, atoi(w[2]), ids[0], err ? " (failed)" : "");
    } else
        fault_log("control: ignored '%s' (see --help)", orig);
}

/* Run and delete the control file if it is there. */
static void control_poll(mock_state *s, const char *path)
{
    char taken[4200];
    snprintf(taken, sizeof taken, "%s.taken", path);
    if (rename(path, taken) != 0)
        return;
    FILE *f = fopen(taken, "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            control_line(s, line);
        fclose(f);
    }
    remove(taken);
}

int tl_cmd_mock(int argc, char **argv)
{
    static mock_state st;
    mock_state *s = &st;
    s->brokers = 1;
    s->burst = 4;
    s->outage_ms = 8000;
    int outage_broker = 0;
    const char *bsfile = NULL, *control = NULL;
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
        const char *colon = strchr(v, ':');
        if (strcmp(a, "--brokers") == 0 && (s->brokers = atoi(v)) >= 1 && s->brokers <= 9)
            ;
        else if (strcmp(a, "--topic") == 0 && s->ntopics < 64 && colon && colon > v &&
                 colon - v < (long)sizeof s->topics[0].name && atoi(colon + 1) > 0) {
            snprintf(s->topics[s->ntopics].name, sizeof s->topics[0].name, "%.*s", (int)(colon - v), v);
            s->topics[s->ntopics++].partitions = atoi(colon + 1);
        } else if (strcmp(a, "--bootstrap-file") == 0)
            bsfile = v;
        else if (strcmp(a, "--duration") == 0 && tl_duration_parse(v, strlen(v), &duration, NULL) == 0)
            ;
        else if (strcmp(a, "--outage") == 0 && tl_duration_parse(v, strlen(v), &s->outage_ms, NULL) == 0 &&
                 s->outage_ms > 0)
            ;
        else if (strcmp(a, "--outage-broker") == 0 &&
                 (strcmp(v, "all") == 0 ? (outage_broker = 0, 1) : (outage_broker = atoi(v)) >= 1))
            ;
        else if (strcmp(a, "--error-burst") == 0 && (s->burst = atoi(v)) >= 1 && s->burst <= 64)
            ;
        else if (strcmp(a, "--control") == 0 && *v)
            control = v;
        else {
            fprintf(stderr, "tripline mock: bad option %s %s (see --help)\n", a, v);
            return TL_EXIT_USAGE;
        }
    }
    if (outage_broker > s->brokers) {
        fprintf(stderr, "tripline mock: --outage-broker %d: there are only %d brokers\n", outage_broker, s->brokers);
        return TL_EXIT_USAGE;
    }
    if (!s->ntopics) {
        static const topic_def defaults[] = {{"agent-traces", 6, 0}, {"tripline-alerts", 3, 0}, {"tripline-dlq", 1, 0}};
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
            s->topics[s->ntopics++] = defaults[i];
    }
    char err[256];
    if (tl_mock_start(&s->m, s->brokers, err, sizeof err) < 0) {
        fprintf(stderr, "tripline mock: %s\n", err);
        return TL_EXIT_RUNTIME;
    }
    for (int i = 0; i < s->ntopics; i++)
        tl_mock_topic(&s->m, s->topics[i].name, s->topics[i].partitions);
    if (control)
        remove(control); /* a stale file from an earlier run is not a command to this one */
    printf("%s\n", s->m.bootstraps);
    fflush(stdout);
    if (bsfile) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", bsfile);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", s->m.bootstraps) < 0 || fclose(f) != 0 || rename(tmp, bsfile) != 0) {
            fprintf(stderr, "tripline mock: cannot write %s\n", bsfile);
            tl_mock_stop(&s->m);
            return TL_EXIT_RUNTIME;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, on_usr2);
    struct timespec tick = {0, 100 * 1000000L};
    int64_t t0 = mono_ms();
    int seen_outages = 0, seen_bursts = 0;
    int sig_ids[10], sig_n = parse_brokers(s, "all", sig_ids);
    if (outage_broker) {
        sig_ids[0] = outage_broker;
        sig_n = 1;
    }
    int all_ids[10], all_n = parse_brokers(s, "all", all_ids);
    while (!mock_stop) {
        nanosleep(&tick, NULL);
        int64_t now = mono_ms();
        if (duration && now - t0 >= duration)
            break;
        outages_end(s, now, 0);
        if (mock_outages != seen_outages) {
            seen_outages = mock_outages;
            outage(s, sig_ids, sig_n, s->outage_ms);
        }
        if (mock_bursts != seen_bursts) {
            seen_bursts = mock_bursts;
            error_burst(s, s->burst);
            for (int i = 0; s->brokers > 1 && i < s->ntopics; i++)
                move_leaders(s, &s->topics[i], all_ids, all_n);
        }
        if (control)
            control_poll(s, control);
    }
    outages_end(s, 0, 1);
    if (s->outages || s->bursts || s->moves)
        fault_log("stopping after %d outages, %d request-error bursts and %d leader moves", s->outages, s->bursts,
                  s->moves);
    tl_mock_stop(&s->m);
    return TL_EXIT_OK;
}
