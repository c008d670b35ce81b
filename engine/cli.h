/* engine/cli.h - the subcommands of the `tripline` binary. Each takes the arguments after
 * its name and returns the process exit code:
 *   0  success (check: every file valid)
 *   1  runtime failure (fatal Kafka error, lost connection at startup, I/O error)
 *   2  usage or configuration error (bad flag, bad config file, refused to start)
 *   3  rule errors (printed as file:line:col: message); test: an invalid test file
 *   4  test: a rule unit test failed
 */
#ifndef TL_CLI_H
#define TL_CLI_H

#define TL_EXIT_OK 0
#define TL_EXIT_RUNTIME 1
#define TL_EXIT_USAGE 2
#define TL_EXIT_RULES 3
#define TL_EXIT_WARNINGS 5 /* check: valid rules, with warnings */
#define TL_EXIT_TESTS 4

int tl_cmd_run(int argc, char **argv);
int tl_cmd_demo(int argc, char **argv);
int tl_cmd_check(int argc, char **argv);
int tl_cmd_gen(int argc, char **argv);
int tl_cmd_mock(int argc, char **argv);
int tl_cmd_test(int argc, char **argv);

/* Load rules for a config, printing errors; NULL on error. */
struct tl_program;
struct tl_config;
struct tl_program *tl_cli_load_rules(const struct tl_config *cfg);
/* --config FILE, then flags, then validation; prints the problem and returns -1. */
int tl_cli_config(struct tl_config *cfg, int argc, char **argv);

#endif
