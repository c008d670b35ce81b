/* tests/unit/test_selfalert.c - the alerts about tripline itself (engine/selfalert.c), without
 * Kafka: TriplineCardinalityOverflow and TriplineCheckpointFailing as state machines driven by
 * engine stats at chosen times. When a check is due (first at once, then every interval, no
 * burst after a stall); fire on growth of `overflowed` with the growth as value, once (no
 * repeat while firing, only the re-notification when its interval passes); resolve only after
 * ten quiet checks; the resolved notification re-sent with its transition id; a new episode
 * after that; the checkpoint alert following `degraded`; and the identity (fingerprint of the
 * name and {instance}, transition ids) that consumers deduplicate on. The mock-cluster path is
 * in tests/integration/test_pipeline.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "ckio.h"
#include "selfalert.h"

#define EPOCH 1800000000000LL /* wall clock at monotonic time 0 */
#define MINUTE 60000LL

static tl_selfalert *make(tl_config *c, const char *group, int64_t interval_ms, int64_t renotify_ms)
{
    tl_config_init(c);
    c->self_check_ms = interval_ms;
    c->renotify_ms = renotify_ms;
    if (group) {
        tl_free(c->group);
        c->group = tl_strdup(group);
    }
    return tl_selfalert_new(c, NULL);
}

/* One check at minute m (monotonic m minutes, wall clock EPOCH + m minutes). */
static uint32_t at(tl_selfalert *sa, int64_t m, const tl_engine_stats *st, tl_alert *out)
{
    return tl_selfalert_poll(sa, m * MINUTE, EPOCH + m * MINUTE, st, out);
}

static void expect_identity(const tl_alert *a, const char *name, const char *group)
{
    tl_alert x;
    memset(&x, 0, sizeof x);
    char in[256];
    size_t nl = strlen(name) + 1, gl = strlen(group);
    memcpy(in, name, nl);
    memcpy(in + nl, group, gl);
    uint64_t fp = tl_alert_set_fingerprint(&x, in, nl + gl);
    assert_string_equal(a->fingerprint, x.fingerprint);
    x.state = a->state;
    tl_alert_set_transition_id(&x, fp, a->starts_at_ms, 0);
    if (a->state == TL_ALERT_RESOLVED) /* a resolved notification is number 0: re-sends repeat it */
        assert_string_equal(a->transition_id, x.transition_id);
    assert_string_equal(a->alert, name);
    assert_int_equal(a->n_labels, 1);
    assert_string_equal(a->label_key[0], "instance");
    assert_string_equal(a->label_val[0], group);
    assert_string_equal(a->owner, "tripline");
    assert_null(a->service);
    assert_int_equal(a->n_exemplars, 0);
}

static void test_selfalert_on_by_default_off_at_zero(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(c.self_check_ms, 60000);
    tl_selfalert *sa = tl_selfalert_new(&c, NULL);
    assert_non_null(sa);
    tl_selfalert_destroy(sa);
    c.self_check_ms = 0;
    assert_null(tl_selfalert_new(&c, NULL));
    tl_selfalert_tick(NULL, NULL); /* the engine calls these unconditionally */
    tl_selfalert_destroy(NULL);
    tl_config_fini(&c);
}

/* The first check at once (it only takes the counters' starting point), then every interval
 * after the previous due time; after a stall one check, then a full interval. */
static void test_selfalert_check_schedule(void **state)
{
    (void)state;
    tl_config c;
    tl_selfalert *sa = make(&c, "g", MINUTE, 0);
    tl_engine_stats st;
    memset(&st, 0, sizeof st);
    tl_alert a[TL_SELFALERT_MAX];
    assert_true(tl_selfalert_due(sa, 5000));
    assert_int_equal(tl_selfalert_poll(sa, 5000, EPOCH, &st, a), 0);
    assert_false(tl_selfalert_due(sa, 5000));
    assert_false(tl_selfalert_due(sa, 5000 + MINUTE - 1));
    assert_true(tl_selfalert_due(sa, 5000 + MINUTE + 7)); /* main loop 7 ms late */
    tl_selfalert_poll(sa, 5000 + MINUTE + 7, EPOCH, &st, a);
    assert_false(tl_selfalert_due(sa, 5000 + 2 * MINUTE - 1)); /* no drift */
    assert_true(tl_selfalert_due(sa, 5000 + 2 * MINUTE));
    tl_selfalert_poll(sa, 5000 + 12 * MINUTE, EPOCH, &st, a); /* a 10-minute stall */
    assert_false(tl_selfalert_due(sa, 5000 + 13 * MINUTE - 1));
    assert_true(tl_selfalert_due(sa, 5000 + 13 * MINUTE));
    /* not due: the stats are not even looked at */
    assert_int_equal(tl_selfalert_poll(sa, 5000 + 12 * MINUTE, EPOCH, NULL, a), 0);
    tl_selfalert_destroy(sa);
    tl_config_fini(&c);
}

/* Overflow: fires at the first check that sees the counter grown, with the growth over the
 * interval as value; stays firing without repeating while it keeps growing (re-notification
 * off); resolves only at the check 10 intervals after the last growth, with value 0, the
 * same fingerprint and starts_at, and its own transition id; and nothing after that. */
static void test_selfalert_overflow_fires_once_and_resolves_after_quiet(void **state)
{
    (void)state;
    tl_config c;
    tl_selfalert *sa = make(&c, "payments", MINUTE, 0);
    tl_selfalert_destroy(sa);
    c.resend_resolved_ms = 0; /* re-sends: the next test */
    sa = tl_selfalert_new(&c, NULL);
    tl_engine_stats st;
    memset(&st, 0, sizeof st);
    st.overflowed = 500; /* before the first check: the starting point, not growth */
    tl_alert a[TL_SELFALERT_MAX];
    assert_int_equal(at(sa, 0, &st, a), 0);
    assert_int_equal(at(sa, 1, &st, a), 0);
    assert_false(tl_selfalert_firing(sa, TL_SELF_OVERFLOW_ALERT));
    st.overflowed += 1234;
    assert_int_equal(at(sa, 2, &st, a), 1);
    expect_identity(&a[0], TL_SELF_OVERFLOW_ALERT, "payments");
    assert_int_equal(a[0].state, TL_ALERT_FIRING);
    assert_true(a[0].value == 1234);
    assert_string_equal(a[0].severity, "warning");
    assert_int_equal(a[0].timestamp_ms, EPOCH + 2 * MINUTE);
    assert_int_equal(a[0].starts_at_ms, EPOCH + 2 * MINUTE);
    assert_int_equal(a[0].ends_at_ms, -1);
    assert_int_equal(a[0].window_ms, MINUTE);
    assert_int_equal(a[0].resend, 0);
    assert_non_null(strstr(a[0].summary, "1234 event contributions into overflow series in the last 1m"));
    assert_non_null(strstr(a[0].summary, "limits.max_series (100000"));
    assert_non_null(strstr(a[0].runbook, "cardinality"));
    assert_non_null(strstr(a[0].description, "payments"));
    char fp[17], fire_id[33];
    memcpy(fp, a[0].fingerprint, sizeof fp);
    memcpy(fire_id, a[0].transition_id, sizeof fire_id);
    /* the JSON alert carries it all */
    char buf[8192];
    size_t n = tl_alert_encode_json(&a[0], buf, sizeof buf);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\"alert\":\"TriplineCardinalityOverflow\",\"state\":\"firing\""));
    assert_non_null(strstr(buf, "\"labels\":{\"instance\":\"payments\"}"));
    assert_non_null(strstr(buf, "\"value_text\":\"1.23k\""));
    /* still growing, then growing no more: no repeat while firing */
    for (int64_t m = 3; m <= 6; m++) {
        st.overflowed += 10;
        assert_int_equal(at(sa, m, &st, a), 0);
    }
    for (int64_t m = 7; m < 16; m++) /* last growth at minute 6: 10 quiet minutes end at 16 */
        assert_int_equal(at(sa, m, &st, a), 0);
    assert_true(tl_selfalert_firing(sa, TL_SELF_OVERFLOW_ALERT));
    assert_int_equal(at(sa, 16, &st, a), 1);
    expect_identity(&a[0], TL_SELF_OVERFLOW_ALERT, "payments");
    assert_int_equal(a[0].state, TL_ALERT_RESOLVED);
    assert_string_equal(a[0].fingerprint, fp);
    assert_string_not_equal(a[0].transition_id, fire_id);
    assert_int_equal(a[0].starts_at_ms, EPOCH + 2 * MINUTE);
    assert_int_equal(a[0].ends_at_ms, EPOCH + 16 * MINUTE);
    assert_true(a[0].value == 0);
    assert_non_null(strstr(a[0].summary, "nothing folded into overflow series for 10m (1274 contributions"));
    assert_false(tl_selfalert_firing(sa, TL_SELF_OVERFLOW_ALERT));
    for (int64_t m = 17; m < 60; m++)
        assert_int_equal(at(sa, m, &st, a), 0);
    /* a counter that goes backwards (a new shard) is no growth */
    st.overflowed = 3;
    assert_int_equal(at(sa, 60, &st, a), 0);
    tl_selfalert_destroy(sa);
    tl_config_fini(&c);
}

/* Re-notification while firing (a new notification each time, as a rule alert's), the
 * resolved notification re-sent with the same transition id every resend_interval for
 * resend_resolved_for (defaults 5m and 15m), and a new episode with a new starts_at. */
static void test_selfalert_renotify_resend_and_new_episode(void **state)
{
    (void)state;
    tl_config c;
    tl_selfalert *sa = make(&c, "g", MINUTE, 3 * MINUTE);
    tl_engine_stats st;
    memset(&st, 0, sizeof st);
    tl_alert a[TL_SELFALERT_MAX];
    at(sa, 0, &st, a);
    st.overflowed = 7;
    assert_int_equal(at(sa, 1, &st, a), 1);
    char ids[4][33];
    memcpy(ids[0], a[0].transition_id, 33);
    int64_t m = 2, sent = 1;
    for (; m <= 7; m++) { /* re-notified at 4 and 7, each its own transition id */
        st.overflowed += 1;
        uint32_t k = at(sa, m, &st, a);
        assert_int_equal(k, m == 4 || m == 7);
        if (k) {
            assert_int_equal(a[0].state, TL_ALERT_FIRING);
            assert_int_equal(a[0].starts_at_ms, EPOCH + MINUTE);
            assert_true(a[0].value == 1);
            memcpy(ids[sent++], a[0].transition_id, 33);
        }
    }
    assert_string_not_equal(ids[0], ids[1]);
    assert_string_not_equal(ids[1], ids[2]);
    /* quiet from 7: resolved at 17 */
    for (m = 8; m < 17; m++)
        if (at(sa, m, &st, a))
            assert_int_equal(a[0].state, TL_ALERT_FIRING); /* the re-notification at 10 and 13 */
    assert_int_equal(at(sa, 17, &st, a), 1);
    assert_int_equal(a[0].state, TL_ALERT_RESOLVED);
    char res_id[33];
    memcpy(res_id, a[0].transition_id, sizeof res_id);
    uint32_t resends = 0;
    for (m = 18; m <= 40; m++) {
        if (!at(sa, m, &st, a))
            continue;
        resends++;
        assert_int_equal(m, 17 + 5 * (int64_t)resends); /* 22, 27, 32 */
        assert_int_equal(a[0].state, TL_ALERT_RESOLVED);
        assert_int_equal(a[0].resend, resends);
        assert_string_equal(a[0].transition_id, res_id);
        assert_int_equal(a[0].timestamp_ms, EPOCH + m * MINUTE);
        assert_int_equal(a[0].ends_at_ms, EPOCH + 17 * MINUTE);
        assert_int_equal(a[0].starts_at_ms, EPOCH + MINUTE);
    }
    assert_int_equal(resends, 3);
    /* a new episode: the same fingerprint, a new starts_at and transition id */
    char fp[17];
    memcpy(fp, a[0].fingerprint, sizeof fp);
    st.overflowed += 5;
    assert_int_equal(at(sa, 41, &st, a), 1);
    assert_int_equal(a[0].state, TL_ALERT_FIRING);
    assert_string_equal(a[0].fingerprint, fp);
    assert_int_equal(a[0].starts_at_ms, EPOCH + 41 * MINUTE);
    assert_true(a[0].value == 5);
    for (int i = 0; i < 3; i++)
        assert_string_not_equal(a[0].transition_id, ids[i]);
    /* resolving again, then firing again before its re-sends ran out: they stop */
    for (m = 42; m <= 51; m++)
        at(sa, m, &st, a);
    assert_false(tl_selfalert_firing(sa, TL_SELF_OVERFLOW_ALERT));
    st.overflowed += 1;
    assert_int_equal(at(sa, 52, &st, a), 1);
    assert_int_equal(a[0].state, TL_ALERT_FIRING);
    for (m = 53; m < 62; m++) /* until it resolves at 62 */
        if (at(sa, m, &st, a))
            assert_int_equal(a[0].state, TL_ALERT_FIRING); /* re-notifications only */
    tl_selfalert_destroy(sa);
    tl_config_fini(&c);
}

/* Checkpoints: fires while `degraded` is seen (critical, value = failed attempts since the last
 * healthy check), once; resolves at the first check that sees it cleared; both alerts are
 * independent and can go out in the same check. */
static void test_selfalert_checkpoint_failing(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    c.self_check_ms = MINUTE;
    c.renotify_ms = 0;
    c.state_dir = tl_strdup("/var/lib/tripline");
    tl_selfalert *sa = tl_selfalert_new(&c, NULL);
    tl_engine_stats st;
    memset(&st, 0, sizeof st);
    st.checkpoints = 10;
    st.checkpoint_failures = 2; /* old failures, healthy since */
    tl_alert a[TL_SELFALERT_MAX];
    at(sa, 0, &st, a);
    assert_int_equal(at(sa, 1, &st, a), 0);
    st.checkpoint_failures = 5;
    st.degraded = 1;
    st.overflowed = 9;
    assert_int_equal(at(sa, 2, &st, a), 2); /* both at once */
    const tl_alert *ck = strcmp(a[0].alert, TL_SELF_CHECKPOINT_ALERT) == 0 ? &a[0] : &a[1];
    expect_identity(ck, TL_SELF_CHECKPOINT_ALERT, "tripline");
    assert_int_equal(ck->state, TL_ALERT_FIRING);
    assert_string_equal(ck->severity, "critical");
    assert_true(ck->value == 3);
    assert_non_null(strstr(ck->summary, "checkpoints in /var/lib/tripline are failing (3 failed attempts)"));
    assert_non_null(strstr(ck->runbook, "state.dir"));
    assert_string_not_equal(a[0].fingerprint, a[1].fingerprint);
    char fire_id[33], fp[17];
    memcpy(fire_id, ck->transition_id, sizeof fire_id);
    memcpy(fp, ck->fingerprint, sizeof fp);
    for (int64_t m = 3; m <= 8; m++) { /* still failing: no repeat */
        st.checkpoint_failures += 12;
        assert_int_equal(at(sa, m, &st, a), 0);
    }
    assert_true(tl_selfalert_firing(sa, TL_SELF_CHECKPOINT_ALERT));
    st.degraded = 0;
    st.checkpoints++;
    uint32_t k = at(sa, 9, &st, a);
    assert_true(k >= 1);
    ck = strcmp(a[0].alert, TL_SELF_CHECKPOINT_ALERT) == 0 ? &a[0] : &a[1];
    assert_string_equal(ck->alert, TL_SELF_CHECKPOINT_ALERT);
    assert_int_equal(ck->state, TL_ALERT_RESOLVED);
    assert_string_equal(ck->fingerprint, fp);
    assert_string_not_equal(ck->transition_id, fire_id);
    assert_int_equal(ck->starts_at_ms, EPOCH + 2 * MINUTE);
    assert_int_equal(ck->ends_at_ms, EPOCH + 9 * MINUTE);
    assert_non_null(strstr(ck->summary, "work again"));
    assert_false(tl_selfalert_firing(sa, TL_SELF_CHECKPOINT_ALERT));
    /* failing again later: counted from the last healthy check */
    st.checkpoint_failures += 1;
    st.degraded = 1;
    for (int64_t m = 10; m <= 30; m++) {
        k = at(sa, m, &st, a);
        for (uint32_t i = 0; i < k; i++)
            if (strcmp(a[i].alert, TL_SELF_CHECKPOINT_ALERT) == 0 && a[i].state == TL_ALERT_FIRING) {
                assert_int_equal(m, 10);
                assert_true(a[i].value == 1);
                assert_int_equal(a[i].starts_at_ms, EPOCH + 10 * MINUTE);
            }
    }
    tl_selfalert_destroy(sa);
    tl_config_fini(&c);
}

/* Identity across processes: another process of the same group (or the same one restarted)
 * sends the same fingerprint; another group another one. Same scheme as the heartbeat. */
static void test_selfalert_identity_stable(void **state)
{
    (void)state;
    char fps[3][17];
    const char *groups[3] = {"g1", "g1", "g2"};
    for (int i = 0; i < 3; i++) {
        tl_config c;
        tl_selfalert *sa = make(&c, groups[i], MINUTE, 0);
        tl_engine_stats st;
        memset(&st, 0, sizeof st);
        tl_alert a[TL_SELFALERT_MAX];
        at(sa, 100 * i, &st, a);
        st.overflowed = 1;
        assert_int_equal(at(sa, 100 * i + 1, &st, a), 1);
        expect_identity(&a[0], TL_SELF_OVERFLOW_ALERT, groups[i]);
        memcpy(fps[i], a[0].fingerprint, sizeof fps[i]);
        tl_selfalert_destroy(sa);
        tl_config_fini(&c);
    }
    assert_string_equal(fps[0], fps[1]);
    assert_string_not_equal(fps[0], fps[2]);
    /* the shared helper builds the heartbeat's layout: name, NUL, label value */
    tl_self_ident id;
    tl_self_ident_init(&id, "TriplineHeartbeat", "payments-alerting");
    tl_alert x;
    memset(&x, 0, sizeof x);
    uint64_t f = tl_alert_set_fingerprint(&x, "TriplineHeartbeat\0payments-alerting", 35);
    assert_string_equal(id.fingerprint, x.fingerprint);
    assert_true(id.fp == f);
}

/* Save through the checkpoint's byte writer and load into a new instance (a restart) at the
 * given clocks: monotonic `now` of the new process, wall clock `epoch`. */
static tl_selfalert *restart(tl_config *c, const tl_selfalert *sa, int64_t save_m, int64_t load_now_ms,
                             int64_t load_epoch_ms)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    tl_ckw w;
    assert_int_equal(tl_ckw_init(&w, f), 0);
    tl_selfalert_save(sa, save_m * MINUTE, EPOCH + save_m * MINUTE, &w);
    assert_int_equal(w.err, 0);
    tl_ckw_fini(&w);
    long len = ftell(f);
    assert_true(len > 0);
    char *buf = tl_malloc((size_t)len);
    rewind(f);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    tl_selfalert *b = tl_selfalert_new(c, NULL);
    tl_ckr r;
    tl_ckr_init(&r, buf, (size_t)len);
    tl_selfalert_load(b, load_now_ms, load_epoch_ms, &r);
    assert_false(r.bad);
    assert_int_equal(r.pos, r.n);
    tl_ckr_init(&r, buf, (size_t)len - 1); /* cut short: reported, not crashed */
    tl_selfalert_load(NULL, load_now_ms, load_epoch_ms, &r);
    assert_true(r.bad);
    tl_ckr_init(&r, buf, (size_t)len); /* checks off in the new run: parsed and dropped */
    tl_selfalert_load(NULL, load_now_ms, load_epoch_ms, &r);
    assert_false(r.bad);
    tl_free(buf);
    return b;
}

/* The lifecycle survives a restart (checkpoint engine section): an overflow and a checkpoint
 * alert firing when the process stopped are resolved by the next process with the same
 * starts_at and transition identity, the overflow only once quiet for ten checks counted from
 * its last growth before the restart (the downtime counts); without the saved state the new
 * process would never resolve them. */
static void test_selfalert_state_survives_restart(void **state)
{
    (void)state;
    tl_config c;
    tl_selfalert *sa = make(&c, "g", MINUTE, 0);
    tl_engine_stats st;
    memset(&st, 0, sizeof st);
    tl_alert out[TL_SELFALERT_MAX];
    assert_int_equal(at(sa, 0, &st, out), 0);
    st.overflowed = 10;
    st.degraded = 1;
    st.checkpoint_failures = 3;
    assert_int_equal(at(sa, 1, &st, out), 2); /* both fire at minute 1 */
    int64_t starts = out[0].starts_at_ms;
    assert_int_equal(starts, EPOCH + MINUTE);
    /* the process stops at minute 3 and the next one starts 2 minutes later (wall clock minute
     * 5), its monotonic clock at 0 */
    tl_selfalert *b = restart(&c, sa, 3, 0, EPOCH + 5 * MINUTE);
    assert_true(tl_selfalert_firing(b, TL_SELF_OVERFLOW_ALERT));
    assert_true(tl_selfalert_firing(b, TL_SELF_CHECKPOINT_ALERT));
    tl_engine_stats fresh; /* the counters restart at 0 with the process */
    memset(&fresh, 0, sizeof fresh);
    assert_int_equal(tl_selfalert_poll(b, 0, EPOCH + 5 * MINUTE, &fresh, out), 0); /* starting point */
    /* minute 6: checkpoints work: the checkpoint alert resolves, same episode */
    assert_int_equal(tl_selfalert_poll(b, MINUTE, EPOCH + 6 * MINUTE, &fresh, out), 1);
    assert_string_equal(out[0].alert, TL_SELF_CHECKPOINT_ALERT);
    assert_int_equal(out[0].state, TL_ALERT_RESOLVED);
    assert_int_equal(out[0].starts_at_ms, starts);
    expect_identity(&out[0], TL_SELF_CHECKPOINT_ALERT, "g");
    /* the overflow last grew at minute 1: quiet for ten checks at minute 11 (wall clock) */
    for (int64_t m = 7; m < 11; m++)
        assert_int_equal(tl_selfalert_poll(b, (m - 5) * MINUTE, EPOCH + m * MINUTE, &fresh, out), 0);
    char resolved_id[sizeof out[0].transition_id];
    memcpy(resolved_id, out[0].transition_id, sizeof resolved_id);
    /* (minute 11 is also the first re-send of the checkpoint alert's resolution) */
    assert_int_equal(tl_selfalert_poll(b, 6 * MINUTE, EPOCH + 11 * MINUTE, &fresh, out), 2);
    assert_string_equal(out[0].alert, TL_SELF_OVERFLOW_ALERT);
    assert_int_equal(out[0].state, TL_ALERT_RESOLVED);
    assert_int_equal(out[0].starts_at_ms, starts);
    expect_identity(&out[0], TL_SELF_OVERFLOW_ALERT, "g");
    assert_string_equal(out[1].alert, TL_SELF_CHECKPOINT_ALERT);
    assert_int_equal(out[1].resend, 1);
    assert_string_equal(out[1].transition_id, resolved_id);
    assert_false(tl_selfalert_firing(b, TL_SELF_OVERFLOW_ALERT));
    tl_selfalert_destroy(b);
    tl_selfalert_destroy(sa);
    tl_config_fini(&c);
}

/* TriplineInputGap: a gap found before the first check (at the first assignment) still fires,
 * at the second check, with the loss as value; a later gap during the episode adds to it; it
 * resolves after ten checks without a new gap. Unlike the overflow counter, the first check
 * does not absorb what the gap counter already holds. */
static void test_selfalert_input_gap(void **state)
{
    (void)state;
    tl_config c;
    tl_selfalert *sa = make(&c, "g", MINUTE, 0);
    tl_engine_stats st;
    memset(&st, 0, sizeof st);
    tl_alert out[TL_SELFALERT_MAX];
    st.input_gaps = 1;
    st.input_gap_messages = 88233;
    assert_int_equal(at(sa, 0, &st, out), 0); /* the first check only takes the starting point... */
    assert_int_equal(at(sa, 1, &st, out), 1); /* ...but not of the gap counter */
    assert_string_equal(out[0].alert, TL_SELF_GAP_ALERT);
    assert_int_equal(out[0].state, TL_ALERT_FIRING);
    assert_string_equal(out[0].severity, "critical");
    assert_true(out[0].value == 88233.0);
    assert_non_null(strstr(out[0].summary, "88233 input messages were deleted by retention"));
    expect_identity(&out[0], TL_SELF_GAP_ALERT, "g");
    st.input_gap_messages += 100; /* another partition, seen at minute 2: no second page */
    for (int64_t m = 2; m < 12; m++)
        assert_int_equal(at(sa, m, &st, out), 0);
    assert_int_equal(at(sa, 12, &st, out), 1); /* ten checks after the last growth (minute 2) */
    assert_int_equal(out[0].state, TL_ALERT_RESOLVED);
    assert_non_null(strstr(out[0].summary, "88333 messages lost in this episode"));
    tl_selfalert_destroy(sa);
    tl_config_fini(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selfalert_on_by_default_off_at_zero),
        cmocka_unit_test(test_selfalert_check_schedule),
        cmocka_unit_test(test_selfalert_overflow_fires_once_and_resolves_after_quiet),
        cmocka_unit_test(test_selfalert_renotify_resend_and_new_episode),
        cmocka_unit_test(test_selfalert_checkpoint_failing),
        cmocka_unit_test(test_selfalert_identity_stable),
        cmocka_unit_test(test_selfalert_state_survives_restart),
        cmocka_unit_test(test_selfalert_input_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
