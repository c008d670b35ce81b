/* tests/fuzz/fuzz_rules.c - libFuzzer target: arbitrary bytes as a rule file.
 *
 * Drives tl_rules_load_string() (YAML tree, expression parser, type checks, interning,
 * layout) with runbook checks off, so the input alone decides the outcome. Besides memory
 * errors (ASan/UBSan), it checks the loader's contract:
 *  - a failure counts at least one error, and every message names the file
 *    ("fuzz.yaml:line:col: ..."), except the bare "out of memory" line;
 *  - a success counts no error, and the compiled program is internally consistent: indices
 *    in range, plan state 8-aligned and non-overlapping inside each series record, rule
 *    instances after the plans.
 *
 * Build: cmake -DTL_FUZZ=ON -DCMAKE_C_COMPILER=clang ...; run:
 *   mkdir -p /tmp/rules-corpus && ./fuzz_rules /tmp/rules-corpus tests/fuzz/corpus/rules
 * (new inputs go to the first directory, so keep the seed corpus read-only by listing it
 * second). Inputs that crashed and are now fixed belong in tests/fuzz/corpus/rules.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inst.h"
#include "program.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_rules: check failed: %s (line %d)\n", #cond, __LINE__);       \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static void check_errors(const char *buf, size_t len, int count)
{
    CHECK(count >= 1);
    CHECK(len == strlen(buf));
    CHECK(len > 0);
    const char *line = buf;
    while (*line) {
        CHECK(strncmp(line, "fuzz.yaml:", 10) == 0 || strncmp(line, "out of memory", 13) == 0);
        const char *nl = strchr(line, '\n');
        if (!nl)
            break; /* the last message may be cut by the buffer */
        line = nl + 1;
    }
}

/* Aggregates read plans of the rule's slot width and window; those under offset() and
 * baseline() read roll-up plans (width = the resolution), those under previous() a plan
 * that keeps two windows. */
static void check_vnode(const tl_program *p, const tl_rule *r, const tl_vnode *v, int64_t width, uint32_t min_slots,
                        int depth)
{
    CHECK(v != NULL);
    CHECK(depth < 10000);
    if (v->op == TL_V_AGG) {
        CHECK(v->plan < p->nplans);
        const tl_plan *pl = &p->plans[v->plan];
        CHECK(pl->group == r->group);
        CHECK(pl->filter == r->filter);
        CHECK(pl->width_ms == width);
        CHECK(pl->nslots >= min_slots);
        if (v->agg == TL_AGG_QUANTILE)
            CHECK(v->q >= 0 && v->q <= 1 && pl->kind == TL_PLAN_SKETCH);
    }
    if (v->op == TL_V_OFFSET || v->op == TL_V_BASELINE) {
        CHECK(v->res_ms >= 60000 && v->res_ms >= r->width_ms);
        width = v->res_ms;
        min_slots = 2;
    } else if (v->op == TL_V_PREVIOUS) {
        min_slots = 2 * r->window_slots;
    }
    if (v->a)
        check_vnode(p, r, v->a, width, min_slots, depth + 1);
    if (v->b)
        check_vnode(p, r, v->b, width, min_slots, depth + 1);
}

static void check_program(const tl_program *p)
{
    CHECK(p->filter_words == (p->nfilters + 63) / 64);
    for (uint32_t i = 0; i < p->nplans; i++) {
        const tl_plan *pl = &p->plans[i];
        CHECK(pl->group < p->ngroups);
        CHECK(pl->filter < p->nfilters);
        CHECK(pl->pred < (int32_t)p->nfilters);
        CHECK(pl->width_ms >= 100);
    }
    for (uint32_t g = 0; g < p->ngroups; g++) {
        const tl_group *grp = &p->groups[g];
        uint32_t end = 64;
        for (uint32_t i = 0; i < grp->nplans; i++) {
            CHECK(grp->plans[i] < p->nplans);
            const tl_plan *pl = &p->plans[grp->plans[i]];
            CHECK(pl->group == g);
            CHECK(pl->offset % 8 == 0);
            CHECK(pl->offset >= end);
            end = pl->offset + pl->size;
        }
        CHECK(grp->inst_offset >= end);
        CHECK(grp->inst_offset % 8 == 0);
        CHECK((uint64_t)grp->inst_offset + (uint64_t)grp->nrules * sizeof(tl_inst) <= grp->record_size);
        for (uint32_t i = 0; i < grp->nrules; i++) {
            CHECK(grp->rules[i] < p->nrules);
            CHECK(p->rules[grp->rules[i]].index_in_group == i);
        }
    }
    for (uint32_t i = 0; i < p->nrules; i++) {
        const tl_rule *r = &p->rules[i];
        CHECK(r->name && r->name[0]);
        CHECK(r->group < p->ngroups && r->filter < p->nfilters && r->count_plan < p->nplans);
        CHECK(r->window_ms > 0 && r->width_ms >= 100 && r->window_ms == (int64_t)r->window_slots * r->width_ms);
        CHECK(r->summary != NULL);
        check_vnode(p, r, r->value, r->width_ms, r->window_slots, 0);
        for (uint32_t k = 0; k < i; k++)
            CHECK(strcmp(p->rules[k].name, r->name) != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[8192];
    tl_rules_opts opts = {.lateness_ms = 30000, .renotify_ms = 0, .check_runbooks = 0};
    tl_rules_errors errs = {.buf = buf, .cap = sizeof buf};
    buf[0] = '\0';
    tl_program *p = tl_rules_load_string("fuzz.yaml", (const char *)data, size, &opts, &errs);
    if (p) {
        CHECK(errs.count == 0);
        check_program(p);
        tl_program_destroy(p);
    } else {
        check_errors(buf, errs.len, errs.count);
    }
    return 0;
}
