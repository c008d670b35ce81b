/* engine/output.c - producing alerts and dead letters with delivery tracking (see output.h). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "output.h"

typedef struct retry {
    struct retry *next;
    char *topic;
    void *key, *value;
    size_t klen, vlen;
    rd_kafka_headers_t *hdrs;
    tl_ack *ack;
    int is_alert;
} retry;

struct tl_output {
    rd_kafka_t *rk;
    char *topic, *dlq;
    tl_output_format fmt;
    pthread_mutex_t lock; /* guards the retry list (error path only) */
    retry *retries;
    int64_t next_retry_ms;
    _Atomic uint64_t alerts, alerts_acked, dlq_n, dlq_acked, failed, nretry;
};

/* Per message opaque: the ack plus whether it is an alert (for counters). The low bit of the
 * pointer marks dead letters (tl_ack is at least 8-byte aligned). */
static void *tag(tl_ack *ack, int is_alert) { return (void *)((uintptr_t)ack | (is_alert ? 0 : 1)); }
static tl_ack *untag(void *p, int *is_alert)
{
    *is_alert = !((uintptr_t)p & 1);
    return (tl_ack *)((uintptr_t)p & ~(uintptr_t)1);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void push_retry(tl_output *o, const char *topic, const void *key, size_t klen, const void *val, size_t vlen,
                       rd_kafka_headers_t *hdrs, tl_ack *ack, int is_alert)
{
    retry *r = tl_calloc(1, sizeof *r);
    if (r) {
        r->topic = tl_strdup(topic);
        r->key = klen ? tl_malloc(klen) : NULL;
        r->value = vlen ? tl_malloc(vlen) : NULL;
    }
    if (!r || !r->topic || (klen && !r->key) || (vlen && !r->value)) {
        /* Cannot even keep it: the ack stays outstanding forever, so offsets never pass it. */
        tl_log(TL_LOG_ERROR, "out of memory keeping an undelivered message for retry; offsets will stall");
        if (r) {
            tl_free(r->topic);
            tl_free(r->key);
            tl_free(r->value);
            tl_free(r);
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return;
    }
    if (klen)
        memcpy(r->key, key, klen);
    if (vlen)
        memcpy(r->value, val, vlen);
    r->klen = klen;
    r->vlen = vlen;
    r->hdrs = hdrs;
    r->ack = ack;
    r->is_alert = is_alert;
    pthread_mutex_lock(&o->lock);
    r->next = o->retries;
    o->retries = r;
    pthread_mutex_unlock(&o->lock);
    atomic_fetch_add(&o->nretry, 1);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tl_output *o = opaque;
    int is_alert;
    tl_ack *ack = untag(m->_private, &is_alert);
    if (!m->err) {
        atomic_fetch_add(is_alert ? &o->alerts_acked : &o->dlq_acked, 1);
        if (ack)
            atomic_fetch_sub(&ack->outstanding, 1);
        return;
    }
    atomic_fetch_add(&o->failed, 1);
    tl_log(TL_LOG_WARN, "delivery to %s failed: %s; will produce it again", rd_kafka_topic_name(m->rkt),
           rd_kafka_err2str(m->err));
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_message_detach_headers((rd_kafka_message_t *)m, &hdrs);
    push_retry(o, rd_kafka_topic_name(m->rkt), m->key, m->key_len, m->payload, m->len, hdrs, ack, is_alert);
}

/* librdkafka's own log lines (its default logger writes to stderr directly) go through
 * tl_log, which redacts the registered secrets: `debug=conf` dumps every property, and
 * librdkafka 2.0.2 only masks those it marks sensitive (not sasl.oauthbearer.client.secret). */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    tl_log_level lvl = level <= 3 ? TL_LOG_ERROR : level == 4 ? TL_LOG_WARN : TL_LOG_INFO;
    tl_log(lvl, "kafka %s %s: %s", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

int tl_kafka_conf_set(rd_kafka_conf_t *conf, const tl_kv *kv, size_t n, char *err, size_t errcap)
{
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    for (size_t i = 0; i < n; i++) {
        int secret = tl_config_prop_is_secret(kv[i].key);
        if (secret && tl_log_add_secret(kv[i].val) < 0) {
            snprintf(err, errcap, "kafka property %s: too many secret values to keep out of the log", kv[i].key);
            return -1;
        }
        char e[256];
        if (rd_kafka_conf_set(conf, kv[i].key, kv[i].val, e, sizeof e) != RD_KAFKA_CONF_OK) {
            /* librdkafka's message may quote the value too ("Invalid value ... for ...") */
            snprintf(err, errcap, "kafka property %s=%s: %s", kv[i].key, secret ? TL_LOG_REDACTED : kv[i].val, e);
            tl_log_redact(err, errcap);
            return -1;
        }
    }
    return 0;
}

tl_output *tl_output_new(const tl_config *cfg, char *err, size_t errcap)
{
    tl_output *o = tl_calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&o->lock, NULL);
    o->fmt = cfg->output_format;
    o->topic = tl_strdup(cfg->output);
    o->dlq = tl_strdup(cfg->dlq);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    static const tl_kv defaults[] = {
        {"enable.idempotence", "true"}, /* acks=all, ordered, no duplicates from retries */
        {"linger.ms", "5"},             /* alert latency matters more than batching */
        {"compression.type", "none"},
    };
    if (tl_kafka_conf_set(conf, defaults, sizeof defaults / sizeof defaults[0], err, errcap) < 0 ||
        rd_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, e, sizeof e) != RD_KAFKA_CONF_OK ||
        tl_kafka_conf_set(conf, cfg->kafka, cfg->n_kafka, err, errcap) < 0 ||
        tl_kafka_conf_set(conf, cfg->producer, cfg->n_producer, err, errcap) < 0) {
        if (!err[0])
            snprintf(err, errcap, "producer config: %s", e);
        rd_kafka_conf_destroy(conf);
        tl_output_destroy(o);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, o);
    o->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!o->rk) {
        snprintf(err, errcap, "cannot create producer: %s", e);
        tl_log_redact(err, errcap);
        rd_kafka_conf_destroy(conf);
        tl_output_destroy(o);
        return NULL;
    }
    return o;
}

void tl_output_destroy(tl_output *o)
{
    if (!o)
        return;
    if (o->rk) {
        rd_kafka_flush(o->rk, 5000);
        rd_kafka_destroy(o->rk);
    }
    for (retry *r = o->retries, *n; r; r = n) {
        n = r->next;
        tl_free(r->topic);
        tl_free(r->key);
        tl_free(r->value);
        if (r->hdrs)
            rd_kafka_headers_destroy(r->hdrs);
        tl_free(r);
    }
    pthread_mutex_destroy(&o->lock);
    tl_free(o->topic);
    tl_free(o->dlq);
    tl_free(o);
}

static void produce(tl_output *o, const char *topic, const void *key, size_t klen, const void *val, size_t vlen,
                    rd_kafka_headers_t *hdrs, tl_ack *ack, int is_alert)
{
    rd_kafka_resp_err_t e;
    if (hdrs)
        e = rd_kafka_producev(o->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, klen),
                              RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(tag(ack, is_alert)), RD_KAFKA_V_END);
    else
        e = rd_kafka_producev(o->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, klen),
                              RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_OPAQUE(tag(ack, is_alert)), RD_KAFKA_V_END);
    if (e) {
        /* queue full or similar: keep it and try again from the main thread */
        atomic_fetch_add(&o->failed, 1);
        push_retry(o, topic, key, klen, val, vlen, hdrs, ack, is_alert);
    }
}

int tl_output_alert(tl_output *o, const tl_alert *a, tl_ack *ack)
{
    char buf[16384];
    size_t n = o->fmt == TL_OUT_AVRO ? tl_alert_encode_avro(a, (uint8_t *)buf, sizeof buf)
                                     : tl_alert_encode_json(a, buf, sizeof buf);
    if (!n) {
        tl_log(TL_LOG_ERROR, "alert %s does not fit in %zu bytes; not produced", a->alert, sizeof buf);
        return -1;
    }
    if (ack)
        atomic_fetch_add(&ack->outstanding, 1);
    atomic_fetch_add(&o->alerts, 1);
    produce(o, o->topic, a->fingerprint, strlen(a->fingerprint), buf, n, NULL, ack, 1);
    return 0;
}

int tl_output_dead_letter(tl_output *o, const rd_kafka_message_t *m, const char *code, const char *reason,
                          tl_ack *ack)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(6);
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)m->partition);
    snprintf(off, sizeof off, "%lld", (long long)m->offset);
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    rd_kafka_header_add(h, "tripline.source.topic", -1, topic, -1);
    rd_kafka_header_add(h, "tripline.source.partition", -1, part, -1);
    rd_kafka_header_add(h, "tripline.source.offset", -1, off, -1);
    rd_kafka_header_add(h, "tripline.error.code", -1, code, -1);
    rd_kafka_header_add(h, "tripline.error", -1, reason, -1);
    if (ack)
        atomic_fetch_add(&ack->outstanding, 1);
    atomic_fetch_add(&o->dlq_n, 1);
    produce(o, o->dlq, m->key, m->key_len, m->payload, m->len, h, ack, 0);
    return 0;
}

void tl_output_poll(tl_output *o, int timeout_ms)
{
    rd_kafka_poll(o->rk, timeout_ms);
    if (!atomic_load(&o->nretry) || now_ms() < o->next_retry_ms)
        return;
    pthread_mutex_lock(&o->lock);
    retry *list = o->retries;
    o->retries = NULL;
    pthread_mutex_unlock(&o->lock);
    o->next_retry_ms = now_ms() + 1000;
    while (list) {
        retry *r = list;
        list = r->next;
        atomic_fetch_sub(&o->nretry, 1);
        produce(o, r->topic, r->key, r->klen, r->value, r->vlen, r->hdrs, r->ack, r->is_alert);
        tl_free(r->topic);
        tl_free(r->key);
        tl_free(r->value);
        tl_free(r);
    }
}

size_t tl_output_pending(tl_output *o) { return (size_t)rd_kafka_outq_len(o->rk) + atomic_load(&o->nretry); }

void tl_output_stats_get(tl_output *o, tl_output_stats *s)
{
    s->alerts = atomic_load(&o->alerts);
    s->alerts_acked = atomic_load(&o->alerts_acked);
    s->dlq = atomic_load(&o->dlq_n);
    s->dlq_acked = atomic_load(&o->dlq_acked);
    s->failed_attempts = atomic_load(&o->failed);
    s->retry_queue = atomic_load(&o->nretry);
}
