/* tests/unit/test_series.c - series tables against a reference set.
 *
 * The table is open addressing with backward shift deletion, so the property that matters is
 * that after any mix of inserts and removals every present key is still reachable from its
 * home slot and every removed key is gone. The reference is a plain array of (key, hash,
 * record pointer, present). Crafted hashes that share their low bits near the end of the
 * table make clusters that wrap around to slot 0, the case backward shift gets wrong most
 * easily.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "rules.h"
#include "series.h"
#include "sketch.h"
#include "tl_test.h"
#include "window.h"

static const char rules_yaml[] =
    "rules:\n"
    "  - name: ToolErrors\n"
    "    filter: kind == \"tool_call\"\n"
    "    group_by: [service, tool]\n"
    "    value: ratio(status != \"ok\")\n"
    "    window: 5m\n"
    "    threshold: \"> 10%\"\n"
    "    severity: warning\n"
    "    owner: team\n"
    "    runbook: runbooks/none.md\n"
    "    summary: \"{{service}} {{tool}} {{value}}\"\n"
    "  - name: ToolLatency\n"
    "    filter: kind == \"tool_call\"\n"
    "    group_by: [service, tool]\n"
    "    value: p95(latency_ms)\n"
    "    window: 5m\n"
    "    threshold: \"> 2s\"\n"
    "    severity: warning\n"
    "    owner: team\n"
    "    runbook: runbooks/none.md\n"
    "    summary: \"{{service}} {{tool}} {{value}}\"\n";

static tl_program *load_program(void)
{
    tl_rules_opts opts = {.lateness_ms = 10000, .renotify_ms = 3600000, .check_runbooks = 0};
    char buf[4096];
    tl_rules_errors errs = {.buf = buf, .cap = sizeof buf};
    buf[0] = '\0';
    tl_program *p = tl_rules_load_string("test.yaml", rules_yaml, sizeof rules_yaml - 1, &opts, &errs);
    if (!p)
        fail_msg("rules did not compile: %s", buf);
    assert_int_equal(p->ngroups, 1);
    assert_int_equal(p->groups[0].nlabels, 2);
    return p;
}

/* Reference entry. */
typedef struct ref_key {
    char key[48];
    uint32_t len;
    uint64_t hash;
    tl_series *rec; /* while present */
    int present;
} ref_key;

/* The probe walk a lookup makes, without creating anything: the record for (hash, key), or
 * NULL when an empty slot is reached first. */
static tl_series *probe(const tl_series_table *t, uint64_t hash, const char *key, uint32_t len)
{
    size_t mask = t->cap - 1;
    for (size_t i = hash & mask, steps = 0; t->slots[i].s && steps < t->cap; i = (i + 1) & mask, steps++) {
        const tl_series *s = t->slots[i].s;
        if (s->hash == hash && s->key_len == len && memcmp(tl_series_key(t, s), key, len) == 0)
            return (tl_series *)s;
    }
    return NULL;
}

/* Full check of the table against the reference:
 *  - every present key is reached by the probe walk from its home and is the same record;
 *  - no absent key is reachable, nor stored anywhere in the table;
 *  - the table holds exactly count records, each with its key bytes intact. */
static void check_table(const tl_series_table *t, const ref_key *keys, size_t nkeys, const char *phase)
{
    size_t present = 0;
    for (size_t i = 0; i < nkeys; i++) {
        const ref_key *k = &keys[i];
        tl_series *s = probe(t, k->hash, k->key, k->len);
        if (k->present) {
            present++;
            if (s != k->rec)
                fail_msg("%s: key %zu '%s' (hash %016llx) %s", phase, i, k->key, (unsigned long long)k->hash,
                         s ? "found a different record" : "not reachable from its home slot");
        } else if (s) {
            fail_msg("%s: removed key %zu '%s' is still in the table", phase, i, k->key);
        }
    }
    assert_int_equal(t->count, present);
    size_t stored = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const tl_series *s = t->slots[i].s;
        if (!s)
            continue;
        stored++;
        if (t->slots[i].hash != s->hash) /* the slot's copy of the hash is what probes compare */
            fail_msg("%s: slot %zu holds hash %llx for a record of hash %llx", phase, i,
                     (unsigned long long)t->slots[i].hash, (unsigned long long)s->hash);
        assert_false(s->overflow);
        assert_int_equal(tl_series_key(t, s)[s->key_len], '\0');
    }
    if (stored != present)
        fail_msg("%s: %zu records stored, %zu expected", phase, stored, present);
    assert_true(t->cap >= 64 && (t->cap & (t->cap - 1)) == 0);
    assert_true(t->count * 2 <= t->cap);
}

static void insert_key(tl_series_table *t, ref_key *k)
{
    int created = -1;
    tl_series *s = tl_series_get(t, k->hash, k->key, k->len, &created);
    assert_non_null(s);
    if (k->present) {
        assert_int_equal(created, 0);
        assert_ptr_equal(s, k->rec);
        return;
    }
    if (created != 1)
        fail_msg("absent key '%s' was not created (found an existing record)", k->key);
    assert_int_equal(s->hash, k->hash);
    assert_int_equal(s->key_len, k->len);
    assert_memory_equal(tl_series_key(t, s), k->key, k->len);
    assert_int_equal(s->last_ts, INT64_MIN);
    assert_int_equal(s->dirty, 0);
    assert_int_equal(s->overflow, 0);
    k->rec = s;
    k->present = 1;
}

static void remove_key(tl_series_table *t, ref_key *k, tl_sketch_pool *pool)
{
    assert_true(k->present);
    tl_series_remove(t, k->rec, pool);
    k->rec = NULL;
    k->present = 0;
}

static void shuffle(size_t *idx, size_t n, tl_test_rng *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = tl_test_rand(rng) % i, x = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = x;
    }
}

/* Put a value into every plan of a series so that removal has sketch chunks to give back. */
static void touch_series(const tl_program *p, tl_series *s, tl_sketch_pool *pool, double v)
{
    const tl_group *g = &p->groups[0];
    for (uint32_t i = 0; i < g->nplans; i++) {
        const tl_plan *pl = &p->plans[g->plans[i]];
        tl_contrib c = {.ts = 1000, .has_value = 1, .value = v};
        assert_int_equal(tl_window_add(pl, tl_series_at(s, pl->offset), pool, &c, 0), 0);
    }
}

/* 50k random keys (real hashes, plus a share of crafted ones that all collide on the low 20
 * bits near the end of the table), removal of random subsets, re-insertion; the table is
 * checked against the reference after every phase. */
static void test_series_random_insert_remove(void **state)
{
    (void)state;
    tl_program *p = load_program();
    tl_sketch_pool *pool = tl_sketch_pool_new(0);
    assert_non_null(pool);
    tl_series_table t;
    assert_int_equal(tl_series_table_init(&t, p, 0, 0), 0);
    const size_t n = 50000;
    ref_key *keys = calloc(n, sizeof *keys);
    size_t *idx = malloc(n * sizeof *idx);
    assert_non_null(keys);
    assert_non_null(idx);
    tl_test_rng rng = {0x5eed5eedull};
    for (size_t i = 0; i < n; i++) {
        ref_key *k = &keys[i];
        int w = snprintf(k->key, sizeof k->key, "svc-%llu\x1ftool-%zu", (unsigned long long)(tl_test_rand(&rng) % 97),
                         i);
        k->len = (uint32_t)w;
        if (i % 25 == 0) {
            /* low 20 bits = 0xFFFFF - d: at every table size up to 2^20 these home on the last
             * four slots, so their cluster wraps around to slot 0 */
            k->hash = (tl_test_rand(&rng) << 20) | (0xFFFFFu - (uint32_t)(tl_test_rand(&rng) % 4));
        } else {
            k->hash = tl_series_hash(k->key, k->len);
        }
        idx[i] = i;
    }

    /* phase 1: insert all, in random order */
    shuffle(idx, n, &rng);
    for (size_t i = 0; i < n; i++) {
        insert_key(&t, &keys[idx[i]]);
        if (idx[i] % 1000 == 0)
            touch_series(p, keys[idx[i]].rec, pool, (double)i);
    }
    check_table(&t, keys, n, "after insert");
    assert_true(tl_sketch_pool_bytes_used(pool) > 0);
    /* a second get of every key finds the same record */
    for (size_t i = 0; i < n; i++)
        insert_key(&t, &keys[i]);

    /* phases 2..: remove a random subset, check, re-insert part of it, check */
    for (int round = 0; round < 4; round++) {
        shuffle(idx, n, &rng);
        size_t nrem = n / (size_t)(2 + round);
        for (size_t i = 0; i < nrem; i++)
            if (keys[idx[i]].present)
                remove_key(&t, &keys[idx[i]], pool);
        char phase[64];
        snprintf(phase, sizeof phase, "round %d after remove", round);
        check_table(&t, keys, n, phase);
        for (size_t i = 0; i < nrem; i += 2)
            insert_key(&t, &keys[idx[i]]);
        snprintf(phase, sizeof phase, "round %d after re-insert", round);
        check_table(&t, keys, n, phase);
    }

    /* remove everything: the table is empty and sketch memory is back */
    for (size_t i = 0; i < n; i++)
        if (keys[i].present)
            remove_key(&t, &keys[i], pool);
    check_table(&t, keys, n, "after removing all");
    assert_int_equal(t.count, 0);
    assert_int_equal(tl_sketch_pool_bytes_used(pool), 0);
    for (size_t i = 0; i < n; i += 7)
        insert_key(&t, &keys[i]);
    check_table(&t, keys, n, "after final re-insert");

    tl_series_table_fini(&t, pool);
    assert_null(t.slots);
    tl_series_table_fini(&t, pool); /* twice is harmless */
    free(keys);
    free(idx);
    tl_sketch_pool_destroy(pool);
    tl_program_destroy(p);
}

/* A small table (64 slots, never grown) where every key homes on slots 60..63 or 0..3: the
 * whole population is one cluster across the wrap-around. Random removals in random order,
 * each followed by a full check, then the same with keys homing anywhere in a few slots. */
static void test_series_wraparound_clusters(void **state)
{
    (void)state;
    tl_program *p = load_program();
    tl_test_rng rng = {0xc0ffeeull};
    static const unsigned homes_wrap[] = {60, 61, 62, 63, 0, 1, 2, 3};
    static const unsigned homes_end[] = {63};
    static const unsigned homes_mid[] = {30, 31};
    static const struct {
        const unsigned *homes;
        size_t nhomes;
    } shapes[] = {{homes_wrap, 8}, {homes_end, 1}, {homes_mid, 2}};
    for (size_t shape = 0; shape < 3; shape++) {
        for (int trial = 0; trial < 200; trial++) {
            tl_series_table t;
            assert_int_equal(tl_series_table_init(&t, p, 0, 0), 0);
            assert_int_equal(t.cap, 64);
            ref_key keys[30];
            size_t n = 8 + tl_test_rand(&rng) % 23; /* up to 30: stays below the grow point */
            memset(keys, 0, sizeof keys);
            for (size_t i = 0; i < n; i++) {
                keys[i].len = (uint32_t)snprintf(keys[i].key, sizeof keys[i].key, "k%zu", i);
                unsigned home = shapes[shape].homes[tl_test_rand(&rng) % shapes[shape].nhomes];
                keys[i].hash = (tl_test_rand(&rng) << 6) | home;
            }
            /* identical hashes for different keys must coexist too */
            keys[1].hash = keys[0].hash;
            for (size_t i = 0; i < n; i++)
                insert_key(&t, &keys[i]);
            assert_int_equal(t.cap, 64);
            check_table(&t, keys, n, "cluster insert");
            size_t order[30];
            for (size_t i = 0; i < n; i++)
                order[i] = i;
            shuffle(order, n, &rng);
            for (size_t i = 0; i < n; i++) {
                remove_key(&t, &keys[order[i]], NULL);
                check_table(&t, keys, n, "cluster remove");
                if (i % 3 == 0) { /* re-insert an earlier victim now and then */
                    insert_key(&t, &keys[order[i / 2]]);
                    check_table(&t, keys, n, "cluster re-insert");
                    remove_key(&t, &keys[order[i / 2]], NULL);
                }
            }
            assert_int_equal(t.count, 0);
            for (size_t i = 0; i < t.cap; i++)
                assert_null(t.slots[i].s);
            tl_series_table_fini(&t, NULL);
        }
    }
    tl_program_destroy(p);
}

/* Removing a record that is not in the table (another table's) changes nothing. */
static void test_series_remove_foreign(void **state)
{
    (void)state;
    tl_program *p = load_program();
    tl_series_table a, b;
    assert_int_equal(tl_series_table_init(&a, p, 0, 0), 0);
    assert_int_equal(tl_series_table_init(&b, p, 0, 0), 0);
    ref_key ka = {.key = "x", .len = 1, .hash = 5}, kb = {.key = "y", .len = 1, .hash = 6};
    insert_key(&a, &ka);
    insert_key(&b, &kb);
    tl_series_remove(&a, kb.rec, NULL); /* home 6 is empty in a: not found, no-op */
    check_table(&a, &ka, 1, "foreign remove");
    check_table(&b, &kb, 1, "foreign remove");
    tl_series_table_fini(&a, NULL);
    tl_series_table_fini(&b, NULL);
    tl_program_destroy(p);
}

/* Past max_series, every new key lands in the one overflow series (key "__overflow__", flag
 * set, not in the table) and is counted; known keys keep their own series; room made by a
 * removal is used by the next new key. */
static void test_series_overflow_cap(void **state)
{
    (void)state;
    tl_program *p = load_program();
    tl_series_table t;
    const uint64_t cap = 100;
    assert_int_equal(tl_series_table_init(&t, p, 0, cap), 0);
    const size_t n = 300;
    ref_key *keys = calloc(n, sizeof *keys);
    assert_non_null(keys);
    for (size_t i = 0; i < n; i++) {
        keys[i].len = (uint32_t)snprintf(keys[i].key, sizeof keys[i].key, "svc\x1ftool-%zu", i);
        keys[i].hash = tl_series_hash(keys[i].key, keys[i].len);
    }
    for (size_t i = 0; i < cap; i++)
        insert_key(&t, &keys[i]);
    assert_null(t.overflow);
    assert_int_equal(t.overflowed, 0);

    tl_series *ov = NULL;
    for (size_t i = cap; i < n; i++) {
        int created = -1;
        tl_series *s = tl_series_get(&t, keys[i].hash, keys[i].key, keys[i].len, &created);
        assert_non_null(s);
        assert_int_equal(created, 0);
        if (!ov)
            ov = s;
        assert_ptr_equal(s, ov);
    }
    assert_ptr_equal(t.overflow, ov);
    assert_int_equal(ov->overflow, 1);
    assert_int_equal(ov->key_len, strlen(TL_OVERFLOW_KEY));
    assert_string_equal(tl_series_key(&t, ov), TL_OVERFLOW_KEY);
    assert_int_equal(t.overflowed, n - cap);
    assert_int_equal(t.count, cap);
    check_table(&t, keys, n, "at the cap"); /* the overflow series is not in the slots */

    /* known keys still get their own series, and are not counted as overflow */
    for (size_t i = 0; i < cap; i++)
        insert_key(&t, &keys[i]);
    assert_int_equal(t.overflowed, n - cap);

    /* a removal makes room for exactly one new key */
    remove_key(&t, &keys[7], NULL);
    insert_key(&t, &keys[cap]);
    int created = -1;
    assert_ptr_equal(tl_series_get(&t, keys[cap + 1].hash, keys[cap + 1].key, keys[cap + 1].len, &created), ov);
    assert_int_equal(t.overflowed, n - cap + 1);
    check_table(&t, keys, n, "after making room");

    /* the overflow series can be removed; the next overflow makes a new one */
    tl_series_remove(&t, ov, NULL);
    assert_null(t.overflow);
    assert_int_equal(t.count, cap);
    tl_series *ov2 = tl_series_get(&t, keys[cap + 2].hash, keys[cap + 2].key, keys[cap + 2].len, &created);
    assert_non_null(ov2);
    assert_int_equal(ov2->overflow, 1);
    assert_ptr_equal(t.overflow, ov2);
    check_table(&t, keys, n, "after overflow removal");

    tl_series_table_fini(&t, NULL);
    free(keys);
    tl_program_destroy(p);
}

/* The total cap (limits.max_series_total): tables sharing a budget stop creating series when
 * the sum of their counts reaches it, even below their own max_series; the overflow series do
 * not count against it; a removal in one table makes room in another; fini gives a table's
 * series back. */
static void test_series_total_cap_shared_by_tables(void **state)
{
    (void)state;
    tl_program *p = load_program();
    tl_series_budget budget = {.count = 0, .max = 150};
    tl_series_table a, b;
    assert_int_equal(tl_series_table_init(&a, p, 0, 100), 0);
    assert_int_equal(tl_series_table_init(&b, p, 0, 100), 0);
    a.budget = &budget;
    b.budget = &budget;
    const size_t n = 400;
    ref_key *ka = calloc(n, sizeof *ka), *kb = calloc(n, sizeof *kb);
    assert_non_null(ka);
    assert_non_null(kb);
    for (size_t i = 0; i < n; i++) {
        ka[i].len = (uint32_t)snprintf(ka[i].key, sizeof ka[i].key, "a\x1ftool-%zu", i);
        ka[i].hash = tl_series_hash(ka[i].key, ka[i].len);
        kb[i].len = (uint32_t)snprintf(kb[i].key, sizeof kb[i].key, "b\x1ftool-%zu", i);
        kb[i].hash = tl_series_hash(kb[i].key, kb[i].len);
    }
    /* a reaches its own cap (100) with room left in the total */
    for (size_t i = 0; i < 100; i++)
        insert_key(&a, &ka[i]);
    assert_int_equal(budget.count, 100);
    assert_true(tl_series_table_full(&a));
    assert_false(tl_series_table_full(&b));
    int created = -1;
    tl_series *ova = tl_series_get(&a, ka[100].hash, ka[100].key, ka[100].len, &created);
    assert_true(ova && ova->overflow && created == 0);
    assert_int_equal(budget.count, 100); /* the overflow series is not counted */
    /* b gets the 50 left in the total, far below its own cap, then overflows */
    for (size_t i = 0; i < 50; i++)
        insert_key(&b, &kb[i]);
    assert_int_equal(b.count, 50);
    assert_int_equal(budget.count, 150);
    assert_true(tl_series_table_full(&b));
    tl_series *ovb = NULL;
    for (size_t i = 50; i < n; i++) {
        tl_series *s = tl_series_get(&b, kb[i].hash, kb[i].key, kb[i].len, &created);
        assert_non_null(s);
        assert_int_equal(created, 0);
        assert_int_equal(s->overflow, 1);
        if (!ovb)
            ovb = s;
        assert_ptr_equal(s, ovb);
    }
    assert_ptr_equal(b.overflow, ovb);
    assert_int_equal(b.overflowed, n - 50);
    assert_int_equal(b.count, 50);
    check_table(&b, kb, n, "b at the total cap");
    for (size_t i = 0; i < 50; i++) /* known keys keep their own series */
        insert_key(&b, &kb[i]);
    assert_int_equal(b.overflowed, n - 50);
    /* ten removals in a make room for exactly ten new series in b */
    for (size_t i = 0; i < 10; i++)
        remove_key(&a, &ka[i], NULL);
    assert_int_equal(budget.count, 140);
    for (size_t i = 50; i < 60; i++) {
        kb[i].present = 0;
        insert_key(&b, &kb[i]);
    }
    assert_int_equal(budget.count, 150);
    assert_ptr_equal(tl_series_get(&b, kb[60].hash, kb[60].key, kb[60].len, &created), ovb);
    check_table(&b, kb, n, "b after room was made in a");
    check_table(&a, ka, n, "a after removals");
    /* fini gives a's 90 series back */
    tl_series_table_fini(&a, NULL);
    assert_int_equal(budget.count, 60);
    assert_false(tl_series_table_full(&b));
    tl_series_table_fini(&b, NULL);
    assert_int_equal(budget.count, 0);
    free(ka);
    free(kb);
    tl_program_destroy(p);
}

/* Steady state: finding known keys allocates nothing. */
static void test_series_known_keys_no_alloc(void **state)
{
    (void)state;
    tl_program *p = load_program();
    tl_series_table t;
    assert_int_equal(tl_series_table_init(&t, p, 0, 0), 0);
    ref_key keys[500];
    memset(keys, 0, sizeof keys);
    for (size_t i = 0; i < 500; i++) {
        keys[i].len = (uint32_t)snprintf(keys[i].key, sizeof keys[i].key, "s\x1f%zu", i);
        keys[i].hash = tl_series_hash(keys[i].key, keys[i].len);
        insert_key(&t, &keys[i]);
    }
    uint64_t before = tl_alloc_count();
    for (int r = 0; r < 20; r++)
        for (size_t i = 0; i < 500; i++)
            insert_key(&t, &keys[i]);
    assert_int_equal(tl_alloc_count(), before);
    tl_series_table_fini(&t, NULL);
    tl_program_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_random_insert_remove),
        cmocka_unit_test(test_series_wraparound_clusters),
        cmocka_unit_test(test_series_remove_foreign),
        cmocka_unit_test(test_series_overflow_cap),
        cmocka_unit_test(test_series_total_cap_shared_by_tables),
        cmocka_unit_test(test_series_known_keys_no_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
