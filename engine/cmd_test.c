/* engine/cmd_test.c - `tripline test [--verbose] FILE|DIR...`: run rule unit tests.
 *
 * A directory contributes every *.test.yaml / *.test.yml directly inside it (not recursive,
 * hidden files skipped, name order), so a test folder can sit next to the rule files without
 * `tripline check rules/` reading it as rules. Every file is loaded and run even after one is
 * invalid, so one run reports everything. Exit: 0 all pass, 4 a test failed, 3 a test file or
 * its rules are invalid (takes precedence), 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "cli.h"
#include "ruletest.h"

static int is_test_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 10 && strcmp(name + n - 10, ".test.yaml") == 0) || (n > 9 && strcmp(name + n - 9, ".test.yml") == 0);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct file_list {
    char **v;
    size_t n, cap;
} file_list;

static int list_add(file_list *l, const char *dir, const char *name)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **nv = tl_realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = nc;
    }
    size_t len = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    char *p = tl_malloc(len);
    if (!p)
        return -1;
    if (dir)
        snprintf(p, len, "%s/%s", dir, name);
    else
        snprintf(p, len, "%s", name);
    l->v[l->n++] = p;
    return 0;
}

/* Expand one argument; returns 0, or -1 after printing why. */
static int collect(file_list *l, const char *arg)
{
    struct stat st;
    if (stat(arg, &st) < 0) {
        fprintf(stderr, "tripline test: %s: %s\n", arg, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return list_add(l, NULL, arg);
    DIR *d = opendir(arg);
    if (!d) {
        fprintf(stderr, "tripline test: %s: %s\n", arg, strerror(errno));
        return -1;
    }
    size_t first = l->n;
    int rc = 0;
    struct dirent *de;
    size_t dl = strlen(arg);
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(dl > 1 && arg[dl - 1] == '/' ? dl - 1 : dl), arg);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && is_test_file(de->d_name) && list_add(l, dir, de->d_name) < 0)
            rc = -1;
    closedir(d);
    if (l->n == first) {
        fprintf(stderr, "tripline test: %s: no *.test.yaml files in this directory\n", arg);
        return -1;
    }
    qsort(l->v + first, l->n - first, sizeof *l->v, cmp_str);
    return rc;
}

int tl_cmd_test(int argc, char **argv)
{
    int verbose = 0, rc = TL_EXIT_OK;
    file_list files = {0};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: tripline test [--verbose] FILE|DIR...\n\n"
                   "Run rule unit tests: YAML files of event timelines and the alerts they must produce\n"
                   "(docs/RULES.md section 11). A directory contributes its *.test.yaml files.\n"
                   "  -v, --verbose  print every alert event of every test\n\n"
                   "Exit 0 when every test passes, 4 when a test fails, 3 when a test file or its rules\n"
                   "are invalid, 2 on usage errors.\n");
            goto out;
        }
        if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            verbose = 1;
            continue;
        }
        if (argv[i][0] == '-') {
            fprintf(stderr, "tripline test: unknown option '%s'\n", argv[i]);
            rc = TL_EXIT_USAGE;
            goto out;
        }
        if (collect(&files, argv[i]) < 0) {
            rc = TL_EXIT_USAGE;
            goto out;
        }
    }
    if (!files.n) {
        fprintf(stderr, "usage: tripline test [--verbose] FILE|DIR...\n");
        rc = TL_EXIT_USAGE;
        goto out;
    }
    tl_ruletest_load_opts lo = {
        .rules = {.lateness_ms = 30000, .renotify_ms = 4 * 3600000LL, .check_runbooks = 1},
    };
    tl_ruletest_run_opts ro = {.out = stdout, .verbose = verbose};
    tl_ruletest_report rep = {0};
    int errors = 0;
    static char ebuf[32768];
    for (size_t i = 0; i < files.n; i++) {
        ebuf[0] = '\0';
        tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
        tl_ruletest_file *f = tl_ruletest_load(files.v[i], &lo, &errs);
        if (!f) {
            fputs(ebuf, stdout);
            if (errs.count > 50)
                printf("... and %d more errors\n", errs.count - 50);
            errors += errs.count ? errs.count : 1;
            continue;
        }
        tl_ruletest_run(f, &ro, &rep);
        tl_ruletest_destroy(f);
    }
    fflush(stdout);
    if (errors) {
        printf("%d error%s; %d test%s run, %d failed\n", errors, errors == 1 ? "" : "s", rep.tests,
               rep.tests == 1 ? "" : "s", rep.failed);
        rc = TL_EXIT_RULES;
    } else if (rep.failed) {
        printf("FAIL: %d of %d tests\n", rep.failed, rep.tests);
        rc = TL_EXIT_TESTS;
    } else {
        printf("ok: %d test%s in %zu file%s\n", rep.tests, rep.tests == 1 ? "" : "s", files.n,
               files.n == 1 ? "" : "s");
    }
out:
    for (size_t i = 0; i < files.n; i++)
        tl_free(files.v[i]);
    tl_free(files.v);
    return rc;
}
