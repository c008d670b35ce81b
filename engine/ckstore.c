/* engine/ckstore.c - the checkpoint's copy in a compacted Kafka topic (see ckstore.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <librdkafka/rdkafka.h>

#include "alloc.h"
#include "checkpoint.h"
#include "ckstore.h"
#include "log.h"
#include "output.h"

#define CHUNK (512u << 10)
#define MAX_CHUNKS (1u << 16) /* 32 GiB of checkpoint */
static const char CH_MAGIC[8] = {'T', 'L', 'C', 'K', 'C', 'H', '0', '1'};
static const char MF_MAGIC[8] = {'T', 'L', 'C', 'K', 'M', 'F', '0', '1'};
#define CH_HDR 24 /* magic, u64 id, u32 i, u32 n */
#define MF_LEN 28 /* magic, u64 id, u32 n, u64 bytes */

struct tl_ckstore {
    rd_kafka_t *rk;
    char *topic;
    char *group;
    uint64_t prev_id; /* the copy now in the topic (its chunks are deleted after the next one) */
    uint32_t prev_n;
    /* delivery reports of the current step */
    uint32_t acked, failed;
    char dr_err[256];
};

static int errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static void put_u32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *b)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)b[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void chunk_key(char *buf, size_t cap, const char *group, uint64_t id, uint32_t i)
{
    snprintf(buf, cap, "%s/chunk/%016" PRIx64 "/%u", group, id, i);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    tl_ckstore *s = opaque;
    if (m->err) {
        s->failed++;
        snprintf(s->dr_err, sizeof s->dr_err, "%s", rd_kafka_err2str(m->err));
    } else {
        s->acked++;
    }
}

tl_ckstore *tl_ckstore_new(const tl_config *cfg, char *err, size_t cap)
{
    tl_ckstore *s = tl_calloc(1, sizeof *s);
    if (!s || !(s->topic = tl_strdup(cfg->state_topic)) || !(s->group = tl_strdup(cfg->group))) {
        tl_ckstore_destroy(s);
        errf(err, cap, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    static const tl_kv defaults[] = {
        {"enable.idempotence", "true"}, /* acks=all: a checkpoint copy counts once replicated */
        {"message.max.bytes", "1000000"},
        {"linger.ms", "20"},
    };
    err[0] = '\0';
    if (tl_kafka_conf_set(conf, defaults, sizeof defaults / sizeof defaults[0], err, cap) < 0 ||
        rd_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, e, sizeof e) != RD_KAFKA_CONF_OK ||
        tl_kafka_conf_set(conf, cfg->kafka, cfg->n_kafka, err, cap) < 0 ||
        tl_kafka_conf_set(conf, cfg->producer, cfg->n_producer, err, cap) < 0) {
        if (!err[0])
            errf(err, cap, "state store producer config: %s", e);
        rd_kafka_conf_destroy(conf);
        tl_ckstore_destroy(s);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, s);
    if (!(s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e))) {
        errf(err, cap, "state store producer: %s", e);
        tl_log_redact(err, cap);
        rd_kafka_conf_destroy(conf);
        tl_ckstore_destroy(s);
        return NULL;
    }
    return s;
}

void tl_ckstore_destroy(tl_ckstore *s)
{
    if (!s)
        return;
    if (s->rk) {
        rd_kafka_flush(s->rk, 2000);
        rd_kafka_destroy(s->rk);
    }
    tl_free(s->topic);
    tl_free(s->group);
    tl_free(s);
}

static int produce(tl_ckstore *s, const char *key, const void *val, size_t len)
{
    rd_kafka_resp_err_t e;
    for (int tries = 0;; tries++) {
        e = rd_kafka_producev(s->rk, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries > 100)
            break;
        rd_kafka_poll(s->rk, 10);
    }
    if (e) {
        s->failed++;
        snprintf(s->dr_err, sizeof s->dr_err, "%s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

/* Wait until `want` records of this step are acknowledged. */
static int await_step(tl_ckstore *s, uint32_t want, int64_t deadline_ms, const char *what, char *err, size_t cap)
{
    for (;;) {
        rd_kafka_poll(s->rk, 10);
        if (s->failed)
            return errf(err, cap, "state topic %s: %s: %s", s->topic, what, s->dr_err);
        if (s->acked >= want)
            return 0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 > deadline_ms)
            return errf(err, cap, "state topic %s: %s: not acknowledged in time (%u of %u)", s->topic, what, s->acked,
                        want);
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tl_ckstore_put(tl_ckstore *s, const char *path, int timeout_ms, char *err, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errf(err, cap, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size == 0) {
        close(fd);
        return errf(err, cap, "%s: empty or unreadable", path);
    }
    size_t len = (size_t)st.st_size;
    const uint8_t *b = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (b == MAP_FAILED)
        return errf(err, cap, "%s: mmap: %s", path, strerror(errno));
    uint64_t id = XXH3_64bits(b, len);
    uint32_t n = (uint32_t)((len + CHUNK - 1) / CHUNK);
    int rc = -1;
    uint8_t *buf = tl_malloc(CH_HDR + CHUNK);
    if (!buf || n > MAX_CHUNKS) {
        errf(err, cap, "state topic: %s", buf ? "checkpoint too large" : "out of memory");
        goto out;
    }
    if (id == s->prev_id) {
        rc = 0; /* nothing changed since the last copy */
        goto out;
    }
    int64_t deadline = mono_ms() + timeout_ms;
    char key[512];
    /* 1. the chunks, under keys of this copy's id: the previous copy stays whole meanwhile */
    s->acked = s->failed = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t off = (size_t)i * CHUNK, m = len - off < CHUNK ? len - off : CHUNK;
        memcpy(buf, CH_MAGIC, 8);
        put_u64(buf + 8, id);
        put_u32(buf + 16, i);
        put_u32(buf + 20, n);
        memcpy(buf + CH_HDR, b + off, m);
        chunk_key(key, sizeof key, s->group, id, i);
        if (produce(s, key, buf, CH_HDR + m) < 0)
            break;
    }
    if (await_step(s, n, deadline, "writing chunks", err, cap) < 0)
        goto out;
    /* 2. the manifest: from here on readers take this copy */
    uint8_t mf[MF_LEN];
    memcpy(mf, MF_MAGIC, 8);
    put_u64(mf + 8, id);
    put_u32(mf + 16, n);
    put_u64(mf + 20, len);
    snprintf(key, sizeof key, "%s/manifest", s->group);
    s->acked = s->failed = 0;
    if (produce(s, key, mf, sizeof mf) < 0 || await_step(s, 1, deadline, "writing the manifest", err, cap) < 0)
        goto out;
    /* 3. the previous copy's chunks go (tombstones; best effort, compaction removes them) */
    s->acked = s->failed = 0;
    for (uint32_t i = 0; s->prev_id && i < s->prev_n; i++) {
        chunk_key(key, sizeof key, s->group, s->prev_id, i);
        produce(s, key, NULL, 0);
    }
    s->prev_id = id;
    s->prev_n = n;
    rc = 0;
out:
    tl_free(buf);
    munmap((void *)b, len);
    return rc;
}

/* ---- fetching ----------------------------------------------------------------------------------- */

typedef struct kv {
    char *key;
    uint8_t *val; /* NULL: deleted */
    size_t len;
} kv;

typedef struct table {
    kv *e;
    size_t n, cap;
} table;

static int table_put(table *t, const char *key, size_t klen, const void *val, size_t len)
{
    size_t i;
    for (i = 0; i < t->n && !(strlen(t->e[i].key) == klen && memcmp(t->e[i].key, key, klen) == 0); i++)
        ;
    if (i == t->n) {
        if (t->n == t->cap) {
            size_t nc = t->cap ? 2 * t->cap : 64;
            kv *ne = tl_realloc(t->e, nc * sizeof *ne);
            if (!ne)
                return -1;
            t->e = ne;
            t->cap = nc;
        }
        if (!(t->e[i].key = tl_strndup(key, klen)))
            return -1;
        t->e[i].val = NULL;
        t->n++;
    }
    tl_free(t->e[i].val);
    t->e[i].val = NULL;
    t->e[i].len = 0;
    if (val) {
        if (!(t->e[i].val = tl_malloc(len ? len : 1)))
            return -1;
        memcpy(t->e[i].val, val, len);
        t->e[i].len = len;
    }
    return 0;
}

static const kv *table_get(const table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].key, key) == 0)
            return t->e[i].val ? &t->e[i] : NULL;
    return NULL;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        tl_free(t->e[i].key);
        tl_free(t->e[i].val);
    }
    tl_free(t->e);
}

/* Read every record of the topic whose key starts with "<group>/" into t (latest wins). */
static int read_topic(const tl_config *cfg, table *t, int timeout_ms, char *err, size_t cap)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    static const tl_kv defaults[] = {{"enable.auto.commit", "false"}, {"enable.partition.eof", "true"},
                                     {"auto.offset.reset", "earliest"}};
    err[0] = '\0';
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, e, sizeof e) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", cfg->group, e, sizeof e) != RD_KAFKA_CONF_OK ||
        tl_kafka_conf_set(conf, defaults, sizeof defaults / sizeof defaults[0], err, cap) < 0 ||
        tl_kafka_conf_set(conf, cfg->kafka, cfg->n_kafka, err, cap) < 0 ||
        tl_kafka_conf_set(conf, cfg->consumer, cfg->n_consumer, err, cap) < 0) {
        if (!err[0])
            errf(err, cap, "state store consumer config: %s", e);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return errf(err, cap, "state store consumer: %s", e);
    }
    int rc = -1;
    rd_kafka_topic_partition_list_t *parts = NULL;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, cfg->state_topic, NULL);
    rd_kafka_resp_err_t me = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) : RD_KAFKA_RESP_ERR__FAIL;
    if (me || !md || md->topic_cnt != 1) {
        errf(err, cap, "state topic %s: metadata: %s", cfg->state_topic, rd_kafka_err2str(me));
        goto out;
    }
    if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || md->topics[0].partition_cnt == 0) {
        rc = 0; /* no topic: no checkpoint */
        goto out;
    }
    if (md->topics[0].err) {
        errf(err, cap, "state topic %s: %s", cfg->state_topic, rd_kafka_err2str(md->topics[0].err));
        goto out;
    }
    int np = md->topics[0].partition_cnt, open = 0;
    parts = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np; i++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, cfg->state_topic, md->topics[0].partitions[i].id, &lo, &hi,
                                             timeout_ms) != 0) {
            errf(err, cap, "state topic %s: partition %d: cannot read its offsets", cfg->state_topic,
                 md->topics[0].partitions[i].id);
            goto out;
        }
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(parts, cfg->state_topic, md->topics[0].partitions[i].id)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
            open++;
        }
    }
    if (rd_kafka_assign(rk, parts) != 0) {
        errf(err, cap, "state topic %s: cannot assign", cfg->state_topic);
        goto out;
    }
    size_t plen = strlen(cfg->group);
    int64_t deadline = mono_ms() + timeout_ms;
    while (open > 0) {
        if (mono_ms() > deadline) {
            errf(err, cap, "state topic %s: not read to its end within %d ms", cfg->state_topic, timeout_ms);
            goto out;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            open--;
        } else if (m->err) {
            errf(err, cap, "state topic %s: %s", cfg->state_topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto out;
        } else if (m->key && m->key_len > plen + 1 && memcmp(m->key, cfg->group, plen) == 0 &&
                   ((const char *)m->key)[plen] == '/') {
            if (table_put(t, m->key, m->key_len, m->payload, m->len) < 0) {
                rd_kafka_message_destroy(m);
                errf(err, cap, "out of memory");
                goto out;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rc = 0;
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

int tl_ckstore_fetch(tl_ckstore *s, const tl_config *cfg, int timeout_ms, char *err, size_t cap)
{
    table t = {0};
    int rc = -1;
    uint8_t *file = NULL;
    if (read_topic(cfg, &t, timeout_ms, err, cap) < 0)
        goto out;
    char key[512];
    snprintf(key, sizeof key, "%s/manifest", cfg->group);
    const kv *mf = table_get(&t, key);
    if (!mf) {
        rc = 1;
        goto out;
    }
    if (mf->len != MF_LEN || memcmp(mf->val, MF_MAGIC, 8) != 0) {
        errf(err, cap, "state topic %s: key %s: not a checkpoint manifest", cfg->state_topic, key);
        goto out;
    }
    uint64_t id = get_u64(mf->val + 8), len = get_u64(mf->val + 20);
    uint32_t n = get_u32(mf->val + 16);
    if (n == 0 || n > MAX_CHUNKS || len > (uint64_t)n * CHUNK || len <= (uint64_t)(n - 1) * CHUNK) {
        errf(err, cap, "state topic %s: manifest of %u chunks and %" PRIu64 " bytes is inconsistent", cfg->state_topic, n,
             len);
        goto out;
    }
    if (!(file = tl_malloc(len))) {
        errf(err, cap, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        chunk_key(key, sizeof key, cfg->group, id, i);
        const kv *c = table_get(&t, key);
        size_t want = i + 1 < n ? CHUNK : (size_t)(len - (uint64_t)i * CHUNK);
        if (!c || c->len != CH_HDR + want || memcmp(c->val, CH_MAGIC, 8) != 0 || get_u64(c->val + 8) != id ||
            get_u32(c->val + 16) != i || get_u32(c->val + 20) != n) {
            errf(err, cap, "state topic %s: checkpoint %016" PRIx64 ": chunk %u of %u is %s", cfg->state_topic, id, i, n,
                 c ? "malformed" : "missing");
            goto out;
        }
        memcpy(file + (size_t)i * CHUNK, c->val + CH_HDR, want);
    }
    if (tl_checkpoint_install(cfg->state_dir, file, len, err, cap) < 0)
        goto out;
    if (s) {
        s->prev_id = id;
        s->prev_n = n;
        /* chunks of copies that lost the race to a manifest (a crash between the two steps) */
        for (size_t i = 0; i < t.n; i++) {
            char mine[64];
            snprintf(mine, sizeof mine, "/chunk/%016" PRIx64 "/", id);
            if (t.e[i].val && strstr(t.e[i].key, "/chunk/") && !strstr(t.e[i].key, mine))
                produce(s, t.e[i].key, NULL, 0);
        }
    }
    rc = 0;
out:
    tl_free(file);
    table_free(&t);
    return rc;
}
