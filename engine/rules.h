/* engine/rules.h - load rule files and compile them into a tl_program.
 *
 * A rule file is YAML with a top-level `rules:` list (see docs/RULES.md). Loading checks
 * everything a rule author can get wrong and reports each problem as
 * `file:line:col: message`: unknown keys (with a suggestion), unknown fields and functions,
 * type errors (sum() of a string field, "10%" on a latency), windows shorter than their slot,
 * missing owner/severity/runbook, a runbook file that does not exist, duplicate rule names,
 * thresholds that cannot be met (a ratio above 100%), and template placeholders that name
 * no label. All errors are collected (up to a limit), not just the first. Warnings (rules
 * that are valid but likely to cry wolf) go in the same buffer, marked `warning:`, and do not
 * fail the load.
 *
 * Threading: single-threaded, at startup or on `tripline check`.
 */
#ifndef TL_RULES_H
#define TL_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "program.h"

typedef struct tl_rules_opts {
    int64_t lateness_ms;  /* allowed lateness; slot rings keep this much extra history */
    int64_t lead_ms;      /* how far ahead of the watermark events may be folded (0: 5m) */
    int64_t renotify_ms;  /* default re-notify interval for rules that do not set one */
    int check_runbooks;   /* 1: a runbook that is a relative path must exist */
} tl_rules_opts;

/* Errors are appended to a caller buffer, one per line. */
typedef struct tl_rules_errors {
    char *buf;
    size_t cap, len;
    int count;    /* errors: the load fails */
    int warnings; /* "file:line:col: warning: ..." lines: the load succeeds */
} tl_rules_errors;

/* Append one line (escaped onto one line; dropped past 50 messages). Counts nothing: the
 * caller bumps count or warnings. Also used by ruletest.c for test-file errors. */
void tl_rules_errors_append(tl_rules_errors *e, const char *msg);

/* Compile rule files. `paths` are files or directories (every *.yaml / *.yml inside,
 * sorted by name, not recursive). Returns NULL when there is any error; errors holds them.
 * The program owns everything it points to. */
tl_program *tl_rules_load(const char *const *paths, size_t npaths, const tl_rules_opts *opts,
                          tl_rules_errors *errors);

/* Same for an in-memory file (tests, fuzzing). */
tl_program *tl_rules_load_string(const char *name, const char *text, size_t len,
                                 const tl_rules_opts *opts, tl_rules_errors *errors);

#endif
