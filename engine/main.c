/* engine/main.c - `tripline` entry point: dispatch to a subcommand (cli.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "tripline - streaming alert engine for AI agents in production\n"
    "\n"
    "usage: tripline <command> [options]\n"
    "\n"
    "commands:\n"
    "  run     consume trace events from Kafka, evaluate rules, produce alerts\n"
    "  demo    run an embedded Kafka cluster with a synthetic fleet and scripted incidents\n"
    "  check   validate rule files (errors as file:line:col: message)\n"
    "  test    run rule unit tests (event timelines and the alerts they must produce)\n"
    "  gen     produce synthetic trace events (with incidents) to any Kafka cluster\n"
    "  mock    run an embedded mock Kafka cluster on 127.0.0.1 (for kcat and local runs)\n"
    "\n"
    "`tripline <command> --help` describes each command's options.\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 invalid rules,\n"
    "            4 failed rule tests\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? TL_EXIT_USAGE : TL_EXIT_OK;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return tl_cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "demo") == 0)
        return tl_cmd_demo(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0)
        return tl_cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "test") == 0)
        return tl_cmd_test(argc - 2, argv + 2);
    if (strcmp(cmd, "gen") == 0)
        return tl_cmd_gen(argc - 2, argv + 2);
    if (strcmp(cmd, "mock") == 0)
        return tl_cmd_mock(argc - 2, argv + 2);
    fprintf(stderr, "tripline: unknown command '%s'\n\n%s", cmd, usage);
    return TL_EXIT_USAGE;
}
