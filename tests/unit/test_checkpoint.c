/* tests/unit/test_checkpoint.c - a checkpoint restores window and alert state exactly
 * (checkpoint.c, the save/load halves of shard.c and window.c).
 *
 * Restart equivalence, in memory: one stream of fleet events runs through shard A without
 * stopping. Part way, A is checkpointed; the checkpoint is loaded into a fresh shard B and into
 * a fresh pair of shards C (the series split between two owners, as with two workers after a
 * restart with more threads). The rest of the stream then runs through A, B and C alike, and
 * the alerts after the checkpoint must be identical transition for transition, including
 * re-notifications (so `for` timers, firing state and notification numbers came back), values
 * (so the windows, sketches and the 7-day baseline came back) and example traces.
 *
 * Then the failure cases: no checkpoint, a corrupt one, a truncated one, another format
 * version, a full disk during the write (the previous checkpoint stays readable), and a rule
 * pack that changed between runs (unchanged rules keep their state). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "alertlog.h"
#include "checkpoint.h"
#include "ckio.h"
#include "fleet.h"
#include "json_encode.h"
#include "route.h"
#include "rules.h"
#include "shard.h"
#include "traces.h"

#define T0 (1800000000000LL)

typedef struct side {
    tl_shard *sh[2];
    uint32_t n;
    tl_router r;
    tl_alog log;
} side;

static void side_init(side *s, tl_program *p, uint32_t n)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->log.with_ex = 1;
    for (uint32_t i = 0; i < n; i++) {
        s->sh[i] = tl_shard_new(p, &(tl_shard_opts){.sink = tl_alog_sink, .sink_ctx = &s->log, .nowners = n});
        assert_non_null(s->sh[i]);
    }
    assert_int_equal(tl_router_init(&s->r, p, n), 0);
}

static void side_fini(side *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        tl_shard_destroy(s->sh[i]);
    tl_router_fini(&s->r);
    tl_alog_free(&s->log);
}

static void side_event(side *s, const tl_event *ev)
{
    tl_fold fo;
    tl_router_route(&s->r, ev, &fo);
    for (uint32_t i = 0; i < s->n; i++)
        tl_shard_fold(s->sh[i], &fo, s->n == 1 ? UINT32_MAX : i);
}

static void side_eval(side *s, int64_t wm)
{
    for (uint32_t i = 0; i < s->n; i++) {
        tl_shard_set_watermark(s->sh[i], wm);
        tl_shard_evaluate(s->sh[i], wm);
    }
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/tl-ckpt-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rmdir_all(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

static const tl_ckpt_offset OFFS[] = {{"agent-traces", 0, 1234, 0}, {"agent-traces", 1, 99, 1}};

static void write_ckpt(const char *dir, tl_program *p, side *s, int64_t wm)
{
    char err[512] = "";
    uint64_t bytes = 0;
    if (tl_checkpoint_write(dir, p, s->sh, NULL, NULL, s->n, wm, OFFS, 2, &bytes, err, sizeof err) != 0)
        fail_msg("checkpoint: %s", err);
    assert_true(bytes > 1000);
}

static void load_ckpt(const char *dir, tl_program *p, side *s, int64_t wm)
{
    char err[512] = "";
    tl_ckpt_info info;
    int rc = tl_checkpoint_load(dir, p, s->sh, NULL, NULL, s->n, &info, err, sizeof err);
    if (rc != 0)
        fail_msg("load: rc %d: %s", rc, err);
    assert_int_equal(info.watermark, wm);
    assert_int_equal(info.noffs, 2);
    assert_string_equal(info.offs[1].topic, "agent-traces");
    assert_int_equal(info.offs[1].partition, 1);
    assert_int_equal(info.offs[1].offset, 99);
    assert_int_equal(info.dropped, 0);
    tl_ckpt_info_fini(&info);
}

/* Run `before` events into a, checkpoint, restore into b (and c), run `after` more into all. */
static void restart_equivalence(tl_program *p, tl_program *p_after, size_t before, size_t after, int with_c)
{
    char *dir = tmpdir();
    side a, b, c;
    side_init(&a, p, 1);
    tl_fleet *f = tl_fleet_new(&(tl_fleet_opts){.seed = 11, .start_ms = T0, .traces_per_sec = 25,
                                                .scenario = TL_FLEET_SCENARIO_DEMO});
    tl_event ev;
    int64_t wm = INT64_MIN;
    for (size_t i = 0; i < before; i++) {
        tl_fleet_next(f, &ev);
        side_event(&a, &ev);
        wm = ev.ts_ms;
        if ((i + 1) % 1024 == 0)
            side_eval(&a, wm);
    }
    side_eval(&a, wm);
    assert_true(a.log.n > 0); /* the probes fired before the checkpoint: there is state to restore */
    write_ckpt(dir, p, &a, wm);
    tl_alog_free(&a.log);
    a.log.with_ex = 1;
    tl_program *pb = p_after ? p_after : p;
    side_init(&b, pb, 1);
    load_ckpt(dir, pb, &b, wm);
    if (with_c) {
        side_init(&c, p, 2);
        load_ckpt(dir, p, &c, wm);
    }
    for (size_t i = 0; i < after; i++) {
        tl_fleet_next(f, &ev);
        side_event(&a, &ev);
        side_event(&b, &ev);
        if (with_c)
            side_event(&c, &ev);
        wm = ev.ts_ms;
        if ((i + 1) % 1024 == 0 || i + 1 == after) {
            side_eval(&a, wm);
            side_eval(&b, wm);
            if (with_c)
                side_eval(&c, wm);
        }
    }
    assert_true(a.log.n > after / 1000); /* re-notifications every minute: not vacuous */
    if (p_after) {
        /* only the rules both packs have are comparable; the new one must have run too */
        tl_alog kept = {0}, added = {0};
        for (size_t i = 0; i < b.log.n; i++) {
            tl_alog *to = strncmp(b.log.lines[i], "ProbeAdded ", 11) == 0 ? &added : &kept;
            if (to->n == to->cap) {
                to->cap = to->cap ? 2 * to->cap : 64;
                to->lines = realloc(to->lines, to->cap * sizeof *to->lines);
            }
            to->lines[to->n++] = strdup(b.log.lines[i]);
        }
        assert_true(added.n > 0);
        tl_alog_assert_same(&a.log, &kept, "uninterrupted", "restored with a changed pack");
        tl_alog_free(&kept);
        tl_alog_free(&added);
    } else {
        tl_alog_assert_same(&a.log, &b.log, "uninterrupted", "restored");
    }
    if (with_c) {
        tl_alog_assert_same(&a.log, &c.log, "uninterrupted", "restored into two shards");
        side_fini(&c);
    }
    tl_fleet_destroy(f);
    side_fini(&a);
    side_fini(&b);
    rmdir_all(dir);
    free(dir);
}

/* The whole example pack (7-day baseline included) and the probes, restored into one shard
 * and into two. */
static void test_checkpoint_restart_equivalence(void **state)
{
    (void)state;
    tl_program *p = tl_load_pack_with_probes(NULL);
    restart_equivalence(p, NULL, 120000, 120000, 1);
    tl_program_destroy(p);
}

/* Distinct counts (HyperLogLog, sparse and dense) come back too. */
static void test_checkpoint_distinct_counts(void **state)
{
    (void)state;
    static const char extra[] = "  - name: ProbeUsers\n"
                                "    group_by: [service]\n"
                                "    value: distinct(trace_id)\n"
                                "    window: 5m\n"
                                "    slot: 10s\n"
                                "    threshold: \"> 0\"\n"
                                "    renotify_interval: 1m\n"
                                "    severity: info\n"
                                "    owner: t\n"
                                "    runbook: r.md\n"
                                "    summary: \"{{value}}\"\n";
    tl_program *p = tl_load_pack_with_probes(extra);
    restart_equivalence(p, NULL, 60000, 60000, 1);
    tl_program_destroy(p);
}

/* A rule pack with one more rule after the restart: the others keep their state exactly. */
static void test_checkpoint_changed_pack_keeps_unchanged_rules(void **state)
{
    (void)state;
    static const char extra[] = "  - name: ProbeAdded\n"
                                "    group_by: [service]\n"
                                "    value: count()\n"
                                "    window: 1m\n"
                                "    threshold: \"> 0\"\n"
                                "    renotify_interval: 1m\n"
                                "    severity: info\n"
                                "    owner: t\n"
                                "    runbook: r.md\n"
                                "    summary: \"{{value}}\"\n";
    tl_program *p = tl_load_pack_with_probes(NULL);
    tl_program *p2 = tl_load_pack_with_probes(extra);
    restart_equivalence(p, p2, 60000, 60000, 0);
    tl_program_destroy(p);
    tl_program_destroy(p2);
}

/* ---- per-trace state ---------------------------------------------------------------------- */

typedef struct tlog {
    tl_alog lines; /* reused as a list of strings */
    size_t traces, sequences, combos;
} tlog;

static void on_synthetic(void *ctx, const tl_event *ev)
{
    tlog *l = ctx;
    char buf[4096];
    size_t n = tl_json_encode_event(ev, buf, sizeof buf);
    assert_true(n > 0 && n < sizeof buf);
    buf[n] = '\0';
    tl_str kind = ev->str[TL_S_KIND];
    l->traces += tl_str_eq_c(kind, "trace");
    l->sequences += tl_str_eq_c(kind, "sequence");
    l->combos += tl_str_eq_c(kind, "tool_combination");
    if (l->lines.n == l->lines.cap) {
        l->lines.cap = l->lines.cap ? 2 * l->lines.cap : 256;
        l->lines.lines = realloc(l->lines.lines, l->lines.cap * sizeof *l->lines.lines);
    }
    l->lines.lines[l->lines.n++] = strdup(buf);
}

static void feed_traces(tl_traces **t, tlog **logs, int n, tl_router *r, tl_fleet *f, size_t events)
{
    tl_event ev;
    for (size_t i = 0; i < events; i++) {
        tl_fleet_next(f, &ev);
        tl_fold fo;
        tl_router_route(r, &ev, &fo);
        for (int k = 0; k < n; k++) {
            tl_traces_observe(t[k], &ev, fo.fbits, on_synthetic, logs[k]);
            if ((i + 1) % 512 == 0)
                tl_traces_expire(t[k], ev.ts_ms, on_synthetic, logs[k]);
        }
    }
}

/* Open traces, sequence progress and learned tool combinations survive: after the restore,
 * the trace summaries, sequence matches and unexpected combinations are the ones the table
 * that never stopped reports, event for event. */
static void test_checkpoint_traces_round_trip(void **state)
{
    (void)state;
    static const char extra[] = "  - name: ProbeFlow\n"
                                "    sequence:\n"
                                "      - kind == \"llm_call\"\n"
                                "      - kind == \"tool_call\"\n"
                                "      - kind == \"llm_call\"\n"
                                "    within: 1m\n"
                                "    severity: info\n"
                                "    owner: t\n"
                                "    runbook: r.md\n"
                                "    summary: s\n"
                                "  - name: ProbeNewPairs\n"
                                "    tool_combinations:\n"
                                "      learn: 3m\n"
                                "    severity: info\n"
                                "    owner: t\n"
                                "    runbook: r.md\n"
                                "    summary: s\n"
                                "  - name: ProbeAllowed\n"
                                "    tool_combinations:\n"
                                "      allowed:\n"
                                "        - [search_kb, get_order_status]\n"
                                "    severity: info\n"
                                "    owner: t\n"
                                "    runbook: r.md\n"
                                "    summary: s\n";
    tl_program *p = tl_load_pack_with_probes(extra);
    assert_true(p->traces);
    char *dir = tmpdir();
    side a, b;
    side_init(&a, p, 1);
    side_init(&b, p, 1);
    tl_traces *ta = tl_traces_new(p, 100000), *tb = tl_traces_new(p, 100000);
    assert_non_null(ta);
    assert_non_null(tb);
    tl_fleet *f = tl_fleet_new(&(tl_fleet_opts){.seed = 21, .start_ms = T0, .traces_per_sec = 25,
                                                .scenario = TL_FLEET_SCENARIO_DEMO});
    tlog la = {0}, lb = {0};
    tlog *logs[2] = {&la, &lb};
    tl_traces *both[2] = {ta, tb};
    feed_traces(&ta, logs, 1, &a.r, f, 60000);
    tl_traces_stats st;
    tl_traces_stats_get(ta, &st);
    assert_true(st.open > 10); /* traces are open across the checkpoint */
    char err[512];
    assert_int_equal(tl_checkpoint_write(dir, p, a.sh, &ta, NULL, 1, T0, OFFS, 2, NULL, err, sizeof err), 0);
    tl_ckpt_info info;
    if (tl_checkpoint_load(dir, p, b.sh, &tb, NULL, 1, &info, err, sizeof err) != 0)
        fail_msg("load: %s", err);
    tl_ckpt_info_fini(&info);
    tl_traces_stats sb;
    tl_traces_stats_get(tb, &sb);
    assert_int_equal(sb.open, st.open);
    tl_alog_free(&la.lines);
    la.traces = la.sequences = la.combos = 0;
    feed_traces(both, logs, 2, &a.r, f, 60000);
    assert_true(la.traces > 100);
    assert_true(la.sequences > 0); /* the per-trace rules matched something */
    assert_true(la.combos > 0);
    assert_int_equal(la.lines.n, lb.lines.n);
    for (size_t i = 0; i < la.lines.n; i++)
        if (strcmp(la.lines.lines[i], lb.lines.lines[i]) != 0)
            fail_msg("synthetic event %zu differs:\n  uninterrupted: %s\n  restored:      %s", i, la.lines.lines[i],
                     lb.lines.lines[i]);
    tl_alog_free(&la.lines);
    tl_alog_free(&lb.lines);
    tl_traces_destroy(ta);
    tl_traces_destroy(tb);
    tl_fleet_destroy(f);
    side_fini(&a);
    side_fini(&b);
    tl_program_destroy(p);
    rmdir_all(dir);
    free(dir);
}

/* A small checkpoint to break in the failure cases. */
static tl_program *small_ckpt(const char *dir, int64_t *wm_out)
{
    tl_program *p = tl_load_pack_with_probes(NULL);
    side a;
    side_init(&a, p, 1);
    tl_fleet *f = tl_fleet_new(&(tl_fleet_opts){.seed = 3, .start_ms = T0, .traces_per_sec = 25,
                                                .scenario = TL_FLEET_SCENARIO_DEMO});
    tl_event ev;
    for (int i = 0; i < 5000; i++) {
        tl_fleet_next(f, &ev);
        side_event(&a, &ev);
    }
    side_eval(&a, ev.ts_ms);
    write_ckpt(dir, p, &a, ev.ts_ms);
    *wm_out = ev.ts_ms;
    tl_fleet_destroy(f);
    side_fini(&a);
    return p;
}

static int try_load(const char *dir, tl_program *p, char *err, size_t cap)
{
    side b;
    side_init(&b, p, 1);
    tl_ckpt_info info;
    int rc = tl_checkpoint_load(dir, p, b.sh, NULL, NULL, 1, &info, err, cap);
    if (rc == 0)
        tl_ckpt_info_fini(&info);
    side_fini(&b);
    return rc;
}

static void patch_file(const char *path, long at, const void *bytes, size_t n, long truncate_to)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    if (bytes)
        assert_int_equal(pwrite(fd, bytes, n, at), (ssize_t)n);
    if (truncate_to >= 0)
        assert_int_equal(ftruncate(fd, truncate_to), 0);
    close(fd);
}

static void test_checkpoint_refuses_unreadable_files(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    int64_t wm;
    /* none yet: a first start */
    tl_program *p = tl_load_pack_with_probes(NULL);
    assert_int_equal(try_load(dir, p, err, sizeof err), 1);
    tl_program_destroy(p);
    p = small_ckpt(dir, &wm);
    assert_int_equal(try_load(dir, p, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    /* one flipped byte in the middle */
    char byte;
    int fd = open(path, O_RDONLY);
    assert_int_equal(pread(fd, &byte, 1, st.st_size / 2), 1);
    close(fd);
    byte ^= 0x10;
    patch_file(path, st.st_size / 2, &byte, 1, -1);
    assert_int_equal(try_load(dir, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "checksum mismatch"));
    byte ^= 0x10;
    patch_file(path, st.st_size / 2, &byte, 1, -1);
    assert_int_equal(try_load(dir, p, err, sizeof err), 0);
    /* another format version: a newer one, and one older than the oldest still read */
    unsigned char v3[4] = {3, 0, 0, 0}, v0[4] = {0, 0, 0, 0};
    patch_file(path, 8, v3, 4, -1);
    assert_int_equal(try_load(dir, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "version 3; this build reads versions 1 to 2"));
    patch_file(path, 8, v0, 4, -1);
    assert_int_equal(try_load(dir, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "version 0; this build reads versions 1 to 2"));
    /* cut short, as a crash mid-copy would leave it */
    patch_file(path, 0, NULL, 0, st.st_size / 3);
    assert_int_equal(try_load(dir, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "version 0")); /* still refused, whatever is wrong first */
    unsigned char v2[4] = {2, 0, 0, 0};
    patch_file(path, 8, v2, 4, -1);
    assert_int_equal(try_load(dir, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    /* not a checkpoint at all */
    patch_file(path, 0, "garbage!", 8, -1);
    assert_int_equal(try_load(dir, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a tripline checkpoint"));
    /* set aside: the next start finds none, and the refused file is kept */
    assert_int_equal(tl_checkpoint_set_aside(dir, err, sizeof err), 0);
    assert_int_equal(try_load(dir, p, err, sizeof err), 1);
    tl_program_destroy(p);
    rmdir_all(dir);
    free(dir);
}

/* The engine section (format version 2): written after the traces, handed back to the
 * caller's load, dropped when the caller has none; and a version 1 file (no section) still
 * loads, without calling the section's load. */
typedef struct sec_probe {
    uint64_t saved, loaded;
    int loads;
} sec_probe;

static void sec_save(void *ctx, tl_ckw *w)
{
    tl_ckw_u64(w, ((sec_probe *)ctx)->saved);
    tl_ckw_cstr(w, "engine");
}

static void sec_load(void *ctx, tl_ckr *r)
{
    sec_probe *sp = ctx;
    sp->loads++;
    sp->loaded = tl_ckr_u64(r);
    uint32_t n;
    const char *t = tl_ckr_str(r, &n, 16);
    if (n != 6 || memcmp(t, "engine", 6) != 0)
        tl_ckr_fail(r, "wrong engine section");
}

static void test_checkpoint_engine_section_and_version_1(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    tl_program *p = tl_load_pack_with_probes(NULL);
    side a, b;
    side_init(&a, p, 1);
    sec_probe sp = {.saved = 0x1234567890abcdefull};
    tl_ckpt_section sec = {sec_save, sec_load, &sp};
    assert_int_equal(tl_checkpoint_write(dir, p, a.sh, NULL, &sec, 1, T0, OFFS, 2, NULL, err, sizeof err), 0);
    tl_ckpt_info info;
    side_init(&b, p, 1);
    if (tl_checkpoint_load(dir, p, b.sh, NULL, &sec, 1, &info, err, sizeof err) != 0)
        fail_msg("load: %s", err);
    tl_ckpt_info_fini(&info);
    side_fini(&b);
    assert_int_equal(sp.loads, 1);
    assert_true(sp.loaded == sp.saved);
    assert_int_equal(try_load(dir, p, err, sizeof err), 0); /* no section to load into: dropped */

    /* version 1: what this build writes without a section, minus the section's presence byte */
    assert_int_equal(tl_checkpoint_write(dir, p, a.sh, NULL, NULL, 1, T0, OFFS, 2, NULL, err, sizeof err), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(len > 40 && len < sizeof buf);
    assert_int_equal(buf[len - 17], 0); /* no section */
    memmove(buf + len - 17, buf + len - 16, 16);
    len--;
    buf[8] = 1;
    uint64_t h = XXH3_64bits(buf, len - 8);
    for (int i = 0; i < 8; i++)
        buf[len - 8 + (size_t)i] = (unsigned char)(h >> (8 * i));
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    side_init(&b, p, 1);
    if (tl_checkpoint_load(dir, p, b.sh, NULL, &sec, 1, &info, err, sizeof err) != 0)
        fail_msg("a version 1 checkpoint: %s", err);
    assert_int_equal(info.noffs, 2);
    assert_int_equal(info.offs[0].offset, 1234);
    tl_ckpt_info_fini(&info);
    side_fini(&b);
    assert_int_equal(sp.loads, 1); /* not called: a version 1 file has no engine section */
    /* the same bytes marked version 2 lack the presence byte: refused, not misread */
    buf[8] = 2;
    h = XXH3_64bits(buf, len - 8);
    for (int i = 0; i < 8; i++)
        buf[len - 8 + (size_t)i] = (unsigned char)(h >> (8 * i));
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    assert_int_equal(try_load(dir, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "malformed"));
    side_fini(&a);
    tl_program_destroy(p);
    rmdir_all(dir);
    free(dir);
}

/* The disk fills up during a checkpoint (the temporary file is /dev/full, a real ENOSPC from
 * the kernel): the write fails with the cause, the previous checkpoint is intact, and the next
 * write succeeds once there is space again. */
static void test_checkpoint_disk_full_keeps_previous(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char tmp[512], err[512] = "";
    int64_t wm;
    tl_program *p = small_ckpt(dir, &wm);
    snprintf(tmp, sizeof tmp, "%s/checkpoint.tmp", dir);
    assert_int_equal(symlink("/dev/full", tmp), 0);
    side a;
    side_init(&a, p, 1);
    assert_int_equal(tl_checkpoint_write(dir, p, a.sh, NULL, NULL, 1, wm + 1000, OFFS, 2, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "No space left on device"));
    unlink(tmp); /* the failed write removed its temporary file; here, a symlink */
    load_ckpt(dir, p, &a, wm); /* the previous one, with its watermark */
    side_fini(&a);
    side_init(&a, p, 1);
    assert_int_equal(tl_checkpoint_write(dir, p, a.sh, NULL, NULL, 1, wm + 1000, OFFS, 2, NULL, err, sizeof err), 0);
    side_fini(&a);
    side_init(&a, p, 1);
    load_ckpt(dir, p, &a, wm + 1000);
    side_fini(&a);
    tl_program_destroy(p);
    rmdir_all(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_restart_equivalence),
        cmocka_unit_test(test_checkpoint_distinct_counts),
        cmocka_unit_test(test_checkpoint_changed_pack_keeps_unchanged_rules),
        cmocka_unit_test(test_checkpoint_traces_round_trip),
        cmocka_unit_test(test_checkpoint_refuses_unreadable_files),
        cmocka_unit_test(test_checkpoint_disk_full_keeps_previous),
        cmocka_unit_test(test_checkpoint_engine_section_and_version_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
