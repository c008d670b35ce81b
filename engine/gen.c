/* engine/gen.c - paced producer for the synthetic fleet (see gen.h). */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "avro_encode.h"
#include "fleet.h"
#include "gen.h"
#include "json_encode.h"
#include "log.h"
#include "output.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (m->err)
        ((tl_gen_result *)opaque)->failed++;
}

/* A few kinds of broken input, so the dead-letter path shows up in demos and tests. */
static size_t malformed(uint64_t i, char *buf, size_t cap)
{
    static const char *const bad[] = {
        "{\"timestamp\": \"2026-13-45T99:00:00Z\", \"service\": \"support-bot\"}",
        "{\"service\": \"support-bot\", \"kind\": \"request\"}",
        "{\"timestamp\": 1700000000000, \"service\": ",
        "\x00\x00\x00\x00\x07garbage",
        "not json at all",
    };
    const char *s = bad[i % 5];
    size_t n = (i % 5 == 3) ? 12 : strlen(s);
    memcpy(buf, s, n < cap ? n : cap);
    return n;
}

int tl_gen_run(const tl_gen_opts *o, tl_gen_result *res, char *err, size_t errcap)
{
    memset(res, 0, sizeof *res);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, e, sizeof e) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "linger.ms", "5", e, sizeof e) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "500000", e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(err, errcap, "producer config: %s", e);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    if (tl_kafka_conf_set(conf, o->props, o->nprops, err, errcap) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_conf_set_opaque(conf, res);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!rk) {
        snprintf(err, errcap, "cannot create producer: %s", e);
        tl_log_redact(err, errcap);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    int64_t length = tl_fleet_scenario_length_ms(o->scenario);
    tl_fleet_opts fo = {
        .seed = o->seed ? o->seed : 42,
        .start_ms = o->start_ms ? o->start_ms : real_ms() - (length ? length : 0) - o->history_ms,
        .history_ms = o->history_ms,
        .traces_per_sec = o->traces_per_sec > 0 ? o->traces_per_sec : 20,
        .scenario = o->scenario,
        .n_services = o->n_services,
    };
    /* event time from start_ms: the history, then the scenario (0: forever) */
    int64_t duration = o->duration_ms ? o->duration_ms + o->history_ms : length ? length + o->history_ms : 0;
    int in_live = 0;
    int64_t live = fo.start_ms + o->history_ms;
    double hist_rate = o->history_rate > 0 ? o->history_rate : 50000;
    uint64_t hist_events = 0;
    tl_fleet *f = tl_fleet_new(&fo);
    if (!f) {
        snprintf(err, errcap, "out of memory");
        rd_kafka_destroy(rk);
        return -1;
    }
    tl_event ev;
    static _Thread_local char buf[65536];
    int64_t wall0 = mono_ms(), began = wall0;
    res->first_ms = fo.start_ms;
    int64_t next_progress = wall0 + 10000;
    while (!(o->stop && atomic_load(o->stop))) {
        tl_fleet_next(f, &ev);
        if (duration && ev.ts_ms - fo.start_ms >= duration)
            break;
        if (o->max_events && res->events >= o->max_events)
            break;
        if (ev.ts_ms < live) {
            /* history: a fixed wall rate, so the consumer keeps up with the broker's retention */
            hist_events++;
            int64_t due = wall0 + (int64_t)((double)hist_events * 1000.0 / hist_rate);
            while (due > mono_ms() && !(o->stop && atomic_load(o->stop)))
                rd_kafka_poll(rk, 1);
        } else if (!in_live) {
            in_live = 1;
            wall0 = mono_ms(); /* the scenario's pacing starts now */
        }
        if (ev.ts_ms >= live && o->speed > 0) {
            int64_t due = wall0 + (int64_t)((double)(ev.ts_ms - live) / o->speed);
            int64_t now = mono_ms();
            while (due > now && !(o->stop && atomic_load(o->stop))) {
                rd_kafka_poll(rk, (int)(due - now > 100 ? 100 : due - now));
                now = mono_ms();
            }
        }
        tl_gen_format fmt = o->format == TL_GEN_MIXED ? (res->events % 2 ? TL_GEN_AVRO : TL_GEN_JSON) : o->format;
        size_t n = fmt == TL_GEN_JSON ? tl_json_encode_event(&ev, buf, sizeof buf)
                   : fmt == TL_GEN_AVRO ? tl_avro_encode_event_confluent(&ev, 1, (uint8_t *)buf, sizeof buf)
                                        : tl_avro_encode_event(&ev, (uint8_t *)buf, sizeof buf);
        const tl_str *tid = &ev.str[TL_S_TRACE_ID];
        for (;;) {
            rd_kafka_resp_err_t pe = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_KEY((void *)tid->p, tid->n), RD_KAFKA_V_VALUE(buf, n),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (pe != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 10);
        }
        res->events++;
        res->last_ms = ev.ts_ms;
        if (o->malformed_every && res->events % o->malformed_every == 0) {
            size_t bn = malformed(res->malformed, buf, sizeof buf);
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_VALUE(buf, bn),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            res->malformed++;
        }
        rd_kafka_poll(rk, 0);
        if (!o->quiet && mono_ms() >= next_progress) {
            next_progress += 10000;
            fprintf(stderr, "gen: %llu events, event time +%llds, %s\n", (unsigned long long)res->events,
                    (long long)((ev.ts_ms - fo.start_ms) / 1000), tl_fleet_phase(f, ev.ts_ms));
        }
    }
    rd_kafka_flush(rk, 30000);
    res->failed += (uint64_t)rd_kafka_outq_len(rk);
    res->wall_seconds = (double)(mono_ms() - began) / 1000.0;
    tl_fleet_destroy(f);
    rd_kafka_destroy(rk);
    return 0;
}
