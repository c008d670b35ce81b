/* engine/cmd_check.c - `tripline check FILE|DIR...`: validate rule files. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "rules.h"

int tl_cmd_check(int argc, char **argv)
{
    const char *paths[256];
    size_t n = 0;
    int runbooks = 1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: tripline check [--no-runbook-check] FILE|DIR...\n\n"
                   "Validate rule files; print each problem as file:line:col: message.\n"
                   "Exit 0 when every file is valid, 5 when valid but with warnings, 3 when any rule is\n"
                   "invalid, 2 on usage errors.\n");
            return TL_EXIT_OK;
        }
        if (strcmp(argv[i], "--no-runbook-check") == 0) {
            runbooks = 0;
            continue;
        }
        if (argv[i][0] == '-') {
            fprintf(stderr, "tripline check: unknown option '%s'\n", argv[i]);
            return TL_EXIT_USAGE;
        }
        if (n < sizeof paths / sizeof paths[0])
            paths[n++] = argv[i];
    }
    if (!n) {
        fprintf(stderr, "usage: tripline check FILE|DIR...\n");
        return TL_EXIT_USAGE;
    }
    tl_rules_opts ro = {.lateness_ms = 30000, .renotify_ms = 4 * 3600000LL, .check_runbooks = runbooks};
    char ebuf[32768];
    ebuf[0] = '\0';
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    tl_program *p = tl_rules_load(paths, n, &ro, &errs);
    if (p && errs.warnings)
        fputs(ebuf, stdout); /* warnings only */
    if (!p) {
        fputs(ebuf, stdout);
        if (errs.count > 50)
            printf("... and %d more errors\n", errs.count - 50);
        printf("%d error%s\n", errs.count, errs.count == 1 ? "" : "s");
        return TL_EXIT_RULES;
    }
    printf("ok: %u rules (%u shared plans, %u filters, %u group-by sets)\n", p->nrules, p->nplans, p->nfilters,
           p->ngroups);
    /* Memory per series: the record holds every plan's slot ring and every rule's alert
     * state; quantile sketches add 64-byte chunks per slot from the worker's pool. */
    printf("memory per series (window and alert state; plus the key and quantile sketch chunks):\n");
    for (uint32_t g = 0; g < p->ngroups; g++) {
        const tl_group *grp = &p->groups[g];
        char labels[256] = "";
        size_t o = 0;
        for (uint32_t i = 0; i < grp->nlabels && o < sizeof labels; i++)
            o += (size_t)snprintf(labels + o, sizeof labels - o, "%s%s", i ? ", " : "", grp->label_names[i]);
        uint32_t sketches = 0;
        for (uint32_t i = 0; i < grp->nplans; i++)
            sketches += p->plans[grp->plans[i]].kind == TL_PLAN_SKETCH;
        printf("  [%s]: %.1f KiB, %u plans, %u rules%s\n", labels, grp->record_size / 1024.0, grp->nplans,
               grp->nrules, sketches ? ", quantile sketches" : "");
    }
    tl_program_destroy(p);
    if (errs.warnings) {
        printf("%d warning%s\n", errs.warnings, errs.warnings == 1 ? "" : "s");
        return TL_EXIT_WARNINGS;
    }
    return TL_EXIT_OK;
}
