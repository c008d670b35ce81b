/* engine/cmd_run.c - `tripline run`: the engine against any Kafka cluster. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "lease.h"
#include "log.h"
#include "rules.h"

static tl_engine *volatile running;
static volatile sig_atomic_t stop_requested; /* for a standby, which has no engine to stop */

static void on_signal(int sig)
{
    if (sig != SIGHUP)
        stop_requested = 1;
    if (!running)
        return;
    if (sig == SIGHUP)
        tl_engine_request_reload(running); /* reload the rules */
    else
        tl_engine_stop(running);
}

tl_program *tl_cli_load_rules(const tl_config *cfg)
{
    tl_rules_opts ro = {.lateness_ms = cfg->lateness_ms,
                        .lead_ms = cfg->max_lead_ms,
                        .renotify_ms = cfg->renotify_ms,
                        .check_runbooks = 1};
    char ebuf[16384];
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    ebuf[0] = '\0';
    tl_program *p = tl_rules_load((const char *const *)cfg->rules, cfg->n_rules, &ro, &errs);
    if (p && errs.warnings)
        fputs(ebuf, stderr);
    if (!p) {
        fputs(ebuf, stderr);
        if (errs.count > 50)
            fprintf(stderr, "... and %d more errors\n", errs.count - 50);
        fprintf(stderr, "tripline: %d error%s in the rules; refusing to start\n", errs.count, errs.count == 1 ? "" : "s");
    } else if (p->nrules == 0) {
        fprintf(stderr, "tripline: no rules found in the configured rule paths; refusing to start\n");
        tl_program_destroy(p);
        p = NULL;
    }
    return p;
}

static const char run_usage[] =
    "usage: tripline run [--config FILE] [flags]\n"
    "\n"
    "Consume trace events, evaluate the rules, produce alert events. Flags override the\n"
    "config file. SIGINT/SIGTERM stop cleanly: drain, deliver pending alerts, commit offsets.\n"
    "SIGHUP (or --watch) reloads the rule files, keeping the state of unchanged rules.\n"
    "\n";

/* Shared by run and demo: --config first, then flags, then validation. */
int tl_cli_config(tl_config *cfg, int argc, char **argv)
{
    char err[1024];
    for (int i = 0; i < argc; i++) {
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
        else if (strcmp(argv[i], "--config") == 0) {
            fprintf(stderr, "tripline: --config needs a file\n");
            return -1;
        }
        if (path && tl_config_load_file(cfg, path, err, sizeof err) < 0) {
            fprintf(stderr, "tripline: %s\n", err);
            return -1;
        }
    }
    if (tl_config_apply_args(cfg, argc, argv, err, sizeof err) < 0 || tl_config_validate(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "tripline: %s\n", err);
        return -1;
    }
    return 0;
}

static int lease_tick(void *lease) { return tl_lease_poll(lease, 0) == TL_LEASE_LOST; }

/* One engine from start to stop. With a lease, the engine also stops when the lease is lost. */
static int run_engine(const tl_config *cfg, const tl_program *prog, tl_lease *lease)
{
    char err[1024];
    tl_engine *e = tl_engine_new(cfg, prog, err, sizeof err);
    if (!e) {
        tl_log_redact(err, sizeof err); /* librdkafka's text may quote a secret property */
        fprintf(stderr, "tripline: %s\n", err);
        return TL_EXIT_USAGE;
    }
    if (lease)
        tl_engine_on_tick(e, lease_tick, lease);
    running = e;
    if (stop_requested) /* a signal before `running` was set */
        tl_engine_stop(e);
    fprintf(stderr, "tripline: %u rules, consuming %zu topic(s) from %s with %d worker(s)\n", prog->nrules,
            cfg->n_inputs, cfg->brokers, cfg->threads);
    int rc = tl_engine_run(e) ? TL_EXIT_RUNTIME : TL_EXIT_OK;
    running = NULL;
    tl_engine_destroy(e); /* closes the input consumer: it leaves the input group */
    return rc;
}

/* ha.mode: standby (lease.h). Wait for the lease, run an engine while it is held, hand over
 * when it is lost, and wait again; until a signal. Each tenure starts from the latest
 * checkpoint and the current rule files (a rule set that no longer loads keeps the last). */
static int run_standby(const tl_config *cfg, tl_program **prog)
{
    char err[1024];
    tl_lease *lease = tl_lease_new(cfg, err, sizeof err);
    if (!lease) {
        fprintf(stderr, "tripline: %s\n", err);
        return TL_EXIT_USAGE;
    }
    int rc = TL_EXIT_OK, tenures = 0;
    while (!stop_requested) {
        int st = tl_lease_poll(lease, 100);
        if (st == TL_LEASE_LOST) /* granted and revoked before an engine started: nothing to stop */
            tl_lease_release(lease);
        if (st != TL_LEASE_HELD)
            continue;
        if (tenures++) {
            tl_program *p = tl_cli_load_rules(cfg);
            if (p) {
                tl_program_destroy(*prog);
                *prog = p;
            } else {
                tl_log(TL_LOG_ERROR, "the rule files no longer load: taking over with the rules loaded before");
            }
        }
        rc = run_engine(cfg, *prog, lease);
        tl_lease_release(lease); /* after the final checkpoint and commit: now another may take over */
        if (rc != TL_EXIT_OK || cfg->exit_at_end)
            break;
    }
    tl_lease_destroy(lease);
    return rc;
}

int tl_cmd_run(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s%s", run_usage, tl_config_flags_help());
            return TL_EXIT_OK;
        }
    }
    tl_config cfg;
    tl_config_init(&cfg);
    int rc = TL_EXIT_USAGE;
    tl_program *prog = NULL;
    if (tl_cli_config(&cfg, argc, argv) < 0)
        goto out;
    prog = tl_cli_load_rules(&cfg);
    if (!prog) {
        rc = TL_EXIT_RULES;
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    rc = cfg.standby ? run_standby(&cfg, &prog) : run_engine(&cfg, prog, NULL);
out:
    tl_program_destroy(prog);
    tl_config_fini(&cfg);
    return rc;
}
