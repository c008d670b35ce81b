/* tests/unit/test_heartbeat.c - the dead-man's switch (engine/heartbeat.c), without Kafka:
 * when a heartbeat is due (interval, first at once, no burst after a stall, at most one in
 * flight), and what it says (an always-firing alert with a stable fingerprint, one firing
 * episode with a new transition id per heartbeat, text that says to page on its absence).
 * The mock-cluster path is in tests/integration/test_pipeline.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "heartbeat.h"

#define EPOCH 1800000000000LL /* wall clock of the first heartbeat */

static tl_heartbeat *make(tl_config *c, const char *group, int64_t interval_ms)
{
    tl_config_init(c);
    c->heartbeat_ms = interval_ms;
    if (group) {
        tl_free(c->group);
        c->group = tl_strdup(group);
    }
    return tl_heartbeat_new(c, NULL);
}

static void test_heartbeat_off_by_default(void **state)
{
    (void)state;
    tl_config c;
    tl_config_init(&c);
    assert_int_equal(c.heartbeat_ms, 0);
    assert_null(tl_heartbeat_new(&c, NULL));
    tl_heartbeat_tick(NULL); /* the engine calls these unconditionally */
    tl_heartbeat_destroy(NULL);
    tl_config_fini(&c);
}

/* The first at once, then every interval after the previous due time (not after whenever the
 * main loop got to it), and after a stall one heartbeat, not a burst of the missed ones. */
static void test_heartbeat_interval(void **state)
{
    (void)state;
    tl_config c;
    tl_heartbeat *h = make(&c, "g", 60000);
    assert_non_null(h);
    tl_alert a;
    int64_t t = 5000;
    assert_int_equal(tl_heartbeat_poll(h, t, EPOCH, &a), 1);
    assert_int_equal(tl_heartbeat_poll(h, t, EPOCH, &a), 0);
    assert_int_equal(tl_heartbeat_poll(h, t + 59999, EPOCH + 59999, &a), 0);
    assert_int_equal(tl_heartbeat_poll(h, t + 60007, EPOCH + 60007, &a), 1); /* main loop 7 ms late */
    assert_int_equal(tl_heartbeat_poll(h, t + 119999, EPOCH + 119999, &a), 0);
    assert_int_equal(tl_heartbeat_poll(h, t + 120000, EPOCH + 120000, &a), 1); /* no drift */
    assert_int_equal(tl_heartbeat_sent(h), 3);
    /* a 10-minute stall: one heartbeat, then the next a full interval later */
    int64_t s = t + 720000;
    assert_int_equal(tl_heartbeat_poll(h, s, EPOCH + 720000, &a), 1);
    for (int64_t k = 1; k < 60000; k += 997)
        assert_int_equal(tl_heartbeat_poll(h, s + k, EPOCH + 720000 + k, &a), 0);
    assert_int_equal(tl_heartbeat_poll(h, s + 60000, EPOCH + 780000, &a), 1);
    assert_int_equal(tl_heartbeat_sent(h), 5);
    tl_heartbeat_destroy(h);
    tl_config_fini(&c);
}

/* While the previous heartbeat is not acknowledged (the broker is away), a due one waits; it
 * goes out as soon as the acknowledgement arrives, and the schedule goes on from there. */
static void test_heartbeat_one_in_flight(void **state)
{
    (void)state;
    tl_config c;
    tl_heartbeat *h = make(&c, "g", 1000);
    tl_alert a;
    tl_ack *ack = tl_heartbeat_ack(h);
    assert_int_equal(tl_heartbeat_poll(h, 0, EPOCH, &a), 1);
    atomic_fetch_add(&ack->outstanding, 1); /* what tl_output_alert does */
    for (int64_t t = 1000; t <= 30000; t += 1000)
        assert_int_equal(tl_heartbeat_poll(h, t, EPOCH + t, &a), 0);
    assert_int_equal(tl_heartbeat_sent(h), 1);
    atomic_fetch_sub(&ack->outstanding, 1); /* the delivery report */
    assert_int_equal(tl_heartbeat_poll(h, 30001, EPOCH + 30001, &a), 1);
    assert_int_equal(a.timestamp_ms, EPOCH + 30001);
    assert_int_equal(tl_heartbeat_poll(h, 30500, EPOCH + 30500, &a), 0);
    assert_int_equal(tl_heartbeat_poll(h, 31001, EPOCH + 31001, &a), 1);
    tl_heartbeat_destroy(h);
    tl_config_fini(&c);
}

/* The alert: always firing, one episode since the first heartbeat, a new transition id per
 * heartbeat (notification number 0, 1, 2, ... as a rule alert's re-notifications), the
 * fingerprint of its name and label set, text that says to page when it stops. */
static void test_heartbeat_alert_content(void **state)
{
    (void)state;
    tl_config c;
    tl_heartbeat *h = make(&c, "payments-alerting", 30000);
    tl_alert a;
    char ids[3][33], fp[17];
    for (int i = 0; i < 3; i++) {
        int64_t t = (int64_t)i * 30000;
        assert_int_equal(tl_heartbeat_poll(h, t, EPOCH + t + 3, &a), 1);
        assert_string_equal(a.alert, TL_HEARTBEAT_ALERT);
        assert_int_equal(a.state, TL_ALERT_FIRING);
        assert_int_equal(a.timestamp_ms, EPOCH + t + 3); /* wall clock of this send */
        assert_int_equal(a.starts_at_ms, EPOCH + 3);     /* one episode since the first */
        assert_int_equal(a.ends_at_ms, -1);
        assert_int_equal(a.resend, 0);
        assert_string_equal(a.severity, "info");
        assert_string_equal(a.owner, "tripline");
        assert_int_equal(a.window_ms, 30000);
        assert_true(a.value == 1 && a.threshold == 0);
        assert_int_equal(a.n_labels, 1);
        assert_string_equal(a.label_key[0], "instance");
        assert_string_equal(a.label_val[0], "payments-alerting");
        assert_null(a.service);
        assert_int_equal(a.n_exemplars, 0);
        assert_non_null(strstr(a.summary, "stops arriving"));
        assert_non_null(strstr(a.runbook, "stops arriving"));
        assert_non_null(strstr(a.description, "payments-alerting"));
        assert_non_null(strstr(a.description, "30s"));
        /* the identity scheme of every alert (alert.h) */
        tl_alert x;
        memset(&x, 0, sizeof x);
        uint64_t f = tl_alert_set_fingerprint(&x, "TriplineHeartbeat\0payments-alerting", 35);
        assert_string_equal(a.fingerprint, x.fingerprint);
        x.state = TL_ALERT_FIRING;
        tl_alert_set_transition_id(&x, f, EPOCH + 3, (uint32_t)i);
        assert_string_equal(a.transition_id, x.transition_id);
        memcpy(ids[i], a.transition_id, sizeof ids[i]);
        if (i == 0)
            memcpy(fp, a.fingerprint, sizeof fp);
        assert_string_equal(a.fingerprint, fp);
        /* it encodes like any alert */
        char buf[4096];
        size_t n = tl_alert_encode_json(&a, buf, sizeof buf);
        assert_true(n > 0);
        buf[n] = '\0';
        assert_non_null(strstr(buf, "\"alert\":\"TriplineHeartbeat\",\"state\":\"firing\""));
        assert_non_null(strstr(buf, "\"labels\":{\"instance\":\"payments-alerting\"}"));
    }
    assert_string_not_equal(ids[0], ids[1]);
    assert_string_not_equal(ids[1], ids[2]);
    tl_heartbeat_destroy(h);
    tl_config_fini(&c);

    /* another process of the same group: the same fingerprint (the downstream check keys on
     * it); another group: another one */
    tl_heartbeat *same = make(&c, "payments-alerting", 60000);
    assert_int_equal(tl_heartbeat_poll(same, 0, EPOCH + 99, &a), 1);
    assert_string_equal(a.fingerprint, fp);
    assert_string_not_equal(a.transition_id, ids[0]); /* its own episode */
    tl_heartbeat_destroy(same);
    tl_config_fini(&c);
    tl_heartbeat *other = make(&c, "search-alerting", 60000);
    assert_int_equal(tl_heartbeat_poll(other, 0, EPOCH, &a), 1);
    assert_string_not_equal(a.fingerprint, fp);
    tl_heartbeat_destroy(other);
    tl_config_fini(&c);
}

/* tl_heartbeat_tick reads the clocks itself; without an output it only counts. */
static void test_heartbeat_tick_uses_the_clock(void **state)
{
    (void)state;
    tl_config c;
    tl_heartbeat *h = make(&c, NULL, 3600000);
    tl_heartbeat_tick(h);
    tl_heartbeat_tick(h);
    assert_int_equal(tl_heartbeat_sent(h), 1); /* the first at once, the next in an hour */
    tl_heartbeat_destroy(h);
    tl_config_fini(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heartbeat_off_by_default),
        cmocka_unit_test(test_heartbeat_interval),
        cmocka_unit_test(test_heartbeat_one_in_flight),
        cmocka_unit_test(test_heartbeat_alert_content),
        cmocka_unit_test(test_heartbeat_tick_uses_the_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
