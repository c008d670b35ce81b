/* engine/config.c - defaults, the YAML config file, `run` flags, and the checks between them.
 *
 * Why: an alert engine that starts with a typo'd setting silently does the wrong thing for
 * hours, so every setting is read strictly: unknown keys and flags are errors (with a
 * "did you mean"), values are type- and range-checked where they are read, and each message
 * names its source - `file:line:col` for the config file, the flag name for flags. Checks
 * that involve several fields (output must not be an input, ...) run in tl_config_validate()
 * after file and flags have both been applied.
 *
 * Invariants: every char * in a tl_config is NULL or a tl_malloc'd string owned by it; lists
 * have exactly n_* entries. Loading and applying flags are all-or-nothing: they work on a deep
 * copy and swap it in only on success, so on error the caller's config is unchanged.
 *
 * Threading: startup only, one thread. tl_config_flags_help() builds its text once
 * (pthread_once) and is safe from any thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "config.h"
#include "timefmt.h"
#include "yamldoc.h"

/* Defaults (each is shown by tl_config_flags_help(), so the text form sits next to it). */
#define DEF_BROKERS "localhost:9092"
#define DEF_GROUP "tripline"
#define DEF_INPUT "agent-traces"
#define DEF_OUTPUT "tripline-alerts"
#define DEF_DLQ "tripline-dlq"
#define DEF_RULES "rules"
#define DEF_THREADS 2
#define DEF_LATENESS_MS 30000
/* 5m: replaying a backlog, librdkafka hands over each partition's prefetched data in long runs,
 * so partitions drift minutes apart in event time; with 2m, bench_e2e held half the messages
 * in memory and decoded them twice (ratio 0.45 vs 0.63-0.66 with 5m). The rings grow by
 * 3 minutes of slots: 40 -> 46 KiB per (service, tool) pair with the example pack. */
#define DEF_MAX_LEAD_MS 300000
#define DEF_IDLE_MS 10000
#define DEF_RENOTIFY_MS (4 * 3600 * 1000LL)
#define DEF_MAX_SERIES 100000
/* 10 group-by sets at DEF_MAX_SERIES each: a pack of up to 10 sets is bounded by the per-set cap
 * alone; a larger pack flooded on every set stops at 1M series per worker (docs/OPERATIONS.md,
 * Cardinality). */
#define DEF_MAX_SERIES_TOTAL 1000000
#define DEF_MAX_MESSAGE ((size_t)1 << 20)
#define DEF_SKETCH_MAX ((size_t)1 << 30)
#define DEF_CHECKPOINT_MS 30000
#define DEF_SHUTDOWN_MS 30000
#define DEF_STATE_TOPIC "tripline-state"
#define DEF_LEASE_TOPIC "tripline-lease"
#define DEF_MAX_FUTURE_MS 0 /* off: replays and test fixtures carry any time; tripline.example.yaml sets 1h */
#define DEF_RESEND_RESOLVED_MS 900000
#define DEF_RESEND_INTERVAL_MS 300000
#define DEF_SELF_CHECK_MS 60000

/* Limits. */
#define MAX_THREADS 64
#define MAX_TOPIC_LEN 249
#define MAX_SERIES_LIMIT 100000000LL        /* 1e8 series per table */
#define MAX_SERIES_TOTAL_LIMIT 1000000000LL /* 1e9 series per worker */
#define MAX_MESSAGE_LIMIT 1000000000LL      /* librdkafka's own ceiling */
#define SKETCH_MAX_LIMIT (1LL << 40)        /* 1 TiB */
#define MAX_DURATION_MS (365LL * 86400000)  /* no interval needs more than a year */
#define MAX_SCHEMA_ID 2147483647LL          /* Confluent ids are positive int32 */

static const char DURATION_HINT[] = "expected e.g. 500ms, 30s, 10m, 1h30m";

/* ---- small helpers -------------------------------------------------------------------- */

static int errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tl_free(l[i]);
    tl_free(l);
}

static void free_kv(tl_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tl_free(kv[i].key);
        tl_free(kv[i].val);
    }
    tl_free(kv);
}

/* Replace *dst with a copy of s[0..n); -1 on OOM (dst unchanged). */
static int set_strn(char **dst, const char *s, size_t n)
{
    char *x = tl_strndup(s, n);
    if (!x)
        return -1;
    tl_free(*dst);
    *dst = x;
    return 0;
}

static int set_str(char **dst, const char *s) { return set_strn(dst, s, strlen(s)); }

static int dup_opt(char **dst, const char *s)
{
    *dst = NULL;
    return s ? set_str(dst, s) : 0;
}

static int list_push(char ***l, size_t *n, const char *s, size_t len)
{
    char *x = tl_strndup(s, len);
    char **nl = x ? tl_realloc(*l, (*n + 1) * sizeof **l) : NULL;
    if (!nl) {
        tl_free(x);
        return -1;
    }
    nl[(*n)++] = x;
    *l = nl;
    return 0;
}

static int list_has(char *const *l, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(l[i]) == len && memcmp(l[i], s, len) == 0)
            return 1;
    return 0;
}

/* Set key=val, overwriting an existing key. */
static int kv_put(tl_kv **kv, size_t *n, const char *k, size_t kl, const char *v, size_t vl)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*kv)[i].key) == kl && memcmp((*kv)[i].key, k, kl) == 0)
            return set_strn(&(*kv)[i].val, v, vl);
    char *ks = tl_strndup(k, kl), *vs = tl_strndup(v, vl);
    tl_kv *nk = ks && vs ? tl_realloc(*kv, (*n + 1) * sizeof **kv) : NULL;
    if (!nk) {
        tl_free(ks);
        tl_free(vs);
        return -1;
    }
    nk[*n].key = ks;
    nk[*n].val = vs;
    (*n)++;
    *kv = nk;
    return 0;
}

/* Kafka's topic name rule. 0 if valid, else -1 with the reason in why. */
static int topic_why(const char *s, size_t n, char *why, size_t cap)
{
    if (n == 0)
        return errf(why, cap, "a topic name must not be empty");
    if (n > MAX_TOPIC_LEN)
        return errf(why, cap, "longer than %d characters", MAX_TOPIC_LEN);
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return errf(why, cap, "'.' and '..' are not allowed as topic names");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-')) {
            if (ch >= 0x20 && ch < 0x7f)
                return errf(why, cap, "invalid character '%c' (allowed: a-z A-Z 0-9 . _ -)",
                            (char)ch);
            return errf(why, cap, "invalid byte 0x%02X (allowed: a-z A-Z 0-9 . _ -)", ch);
        }
    }
    return 0;
}

/* Strict decimal integer; 0 on success. */
static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s || !((*s >= '0' && *s <= '9') || *s == '-' || *s == '+'))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return -1;
    *out = v;
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

void tl_config_init(tl_config *c)
{
    memset(c, 0, sizeof *c);
    /* An allocation failure leaves a field NULL; tl_config_validate() reports it. */
    set_str(&c->brokers, DEF_BROKERS);
    set_str(&c->group, DEF_GROUP);
    if (list_push(&c->inputs, &c->n_inputs, DEF_INPUT, strlen(DEF_INPUT)))
        c->n_inputs = 0;
    set_str(&c->output, DEF_OUTPUT);
    set_str(&c->dlq, DEF_DLQ);
    if (list_push(&c->rules, &c->n_rules, DEF_RULES, strlen(DEF_RULES)))
        c->n_rules = 0;
    c->input_format = TL_IN_AUTO;
    c->output_format = TL_OUT_JSON;
    c->threads = DEF_THREADS;
    c->lateness_ms = DEF_LATENESS_MS;
    c->max_lead_ms = DEF_MAX_LEAD_MS;
    c->idle_timeout_ms = DEF_IDLE_MS;
    c->renotify_ms = DEF_RENOTIFY_MS;
    c->max_series = DEF_MAX_SERIES;
    c->max_series_total = DEF_MAX_SERIES_TOTAL;
    c->max_message_bytes = DEF_MAX_MESSAGE;
    c->sketch_max_bytes = DEF_SKETCH_MAX;
    c->checkpoint_interval_ms = DEF_CHECKPOINT_MS;
    set_str(&c->state_topic, DEF_STATE_TOPIC);
    set_str(&c->lease_topic, DEF_LEASE_TOPIC);
    c->max_future_ms = DEF_MAX_FUTURE_MS;
    c->resend_resolved_ms = DEF_RESEND_RESOLVED_MS;
    c->resend_interval_ms = DEF_RESEND_INTERVAL_MS;
    c->self_check_ms = DEF_SELF_CHECK_MS;
    c->shutdown_timeout_ms = DEF_SHUTDOWN_MS;
}

void tl_config_fini(tl_config *c)
{
    if (!c)
        return;
    tl_free(c->brokers);
    tl_free(c->group);
    free_list(c->inputs, c->n_inputs);
    tl_free(c->output);
    tl_free(c->dlq);
    free_list(c->rules, c->n_rules);
    tl_free(c->avro_schema);
    tl_free(c->state_dir);
    tl_free(c->state_topic);
    tl_free(c->lease_topic);
    for (size_t i = 0; i < c->n_registry; i++)
        tl_free(c->registry[i].path);
    tl_free(c->registry);
    free_kv(c->kafka, c->n_kafka);
    free_kv(c->consumer, c->n_consumer);
    free_kv(c->producer, c->n_producer);
    memset(c, 0, sizeof *c);
}

static int kv_copy(tl_kv **dst, size_t *dn, const tl_kv *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (kv_put(dst, dn, src[i].key, strlen(src[i].key), src[i].val, strlen(src[i].val)))
            return -1;
    return 0;
}

/* Deep copy; on failure dst is left empty (fini'd). */
static int config_copy(tl_config *dst, const tl_config *src)
{
    *dst = *src;
    dst->brokers = dst->group = dst->output = dst->dlq = dst->avro_schema = dst->state_dir = dst->state_topic =
        dst->lease_topic = NULL;
    dst->inputs = dst->rules = NULL;
    dst->n_inputs = dst->n_rules = 0;
    dst->registry = NULL;
    dst->n_registry = 0;
    dst->kafka = dst->consumer = dst->producer = NULL;
    dst->n_kafka = dst->n_consumer = dst->n_producer = 0;
    if (dup_opt(&dst->brokers, src->brokers) || dup_opt(&dst->group, src->group) ||
        dup_opt(&dst->output, src->output) || dup_opt(&dst->dlq, src->dlq) ||
        dup_opt(&dst->avro_schema, src->avro_schema) || dup_opt(&dst->state_dir, src->state_dir) ||
        dup_opt(&dst->state_topic, src->state_topic) || dup_opt(&dst->lease_topic, src->lease_topic))
        goto fail;
    for (size_t i = 0; i < src->n_inputs; i++)
        if (list_push(&dst->inputs, &dst->n_inputs, src->inputs[i], strlen(src->inputs[i])))
            goto fail;
    for (size_t i = 0; i < src->n_rules; i++)
        if (list_push(&dst->rules, &dst->n_rules, src->rules[i], strlen(src->rules[i])))
            goto fail;
    if (src->n_registry) {
        dst->registry = tl_calloc(src->n_registry, sizeof *dst->registry);
        if (!dst->registry)
            goto fail;
        for (size_t i = 0; i < src->n_registry; i++) {
            dst->registry[i].id = src->registry[i].id;
            dst->n_registry++;
            if (dup_opt(&dst->registry[i].path, src->registry[i].path))
                goto fail;
        }
    }
    if (kv_copy(&dst->kafka, &dst->n_kafka, src->kafka, src->n_kafka) ||
        kv_copy(&dst->consumer, &dst->n_consumer, src->consumer, src->n_consumer) ||
        kv_copy(&dst->producer, &dst->n_producer, src->producer, src->n_producer))
        goto fail;
    return 0;
fail:
    tl_config_fini(dst);
    return -1;
}

/* ---- the YAML file -------------------------------------------------------------------- */

static const char *const TOP_KEYS[] = {
    "brokers", "group", "inputs", "output", "dlq", "rules", "input_format", "output_format",
    "threads", "exit_at_end", "watch", "avro", "window", "alerts", "limits", "state", "ha", "stats_interval", "shutdown_timeout",
    "kafka", "consumer", "producer", NULL};
static const char *const AVRO_KEYS[] = {"schema", "registry", NULL};
static const char *const WINDOW_KEYS[] = {"lateness", "max_lead", "idle_timeout", "eof_grace", NULL};
static const char *const ALERTS_KEYS[] = {"renotify_interval", "print", "heartbeat", "resend_resolved_for",
                                          "resend_interval", "self_check_interval", NULL};
static const char *const LIMITS_KEYS[] = {"max_series", "max_series_total", "max_message_bytes", "sketch_max_bytes",
                                          "max_future", "future_timestamps", NULL};
static const char *const STATE_KEYS[] = {"dir", "interval", "on_unreadable", "store", "topic", NULL};
static const char *const HA_KEYS[] = {"mode", "lease_topic", NULL};
static const char *const HA_MODES[] = {"single", "standby", NULL};
static const char *const STATE_STORES[] = {"file", "kafka", NULL};
static const char *const FUTURE_POLICIES[] = {"reject", "clamp", NULL};
static const char *const UNREADABLE_POLICIES[] = {"refuse", "fresh", NULL};
static const char *const IN_FORMATS[] = {"auto", "json", "avro", NULL};
static const char *const OUT_FORMATS[] = {"json", "avro", NULL};

typedef struct yctx {
    const tl_ydoc *d;
    char *err;
    size_t cap;
} yctx;

static int y_oom(yctx *y, const tl_ynode *at)
{
    return tl_ydoc_error(y->d, at, y->err, y->cap, "out of memory");
}

/* `key:` with nothing, `~` or `null`. */
static int y_is_null(const tl_ynode *n)
{
    if (!n || n->type != TL_Y_SCALAR || n->style != TL_YS_PLAIN)
        return 0;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

/* A non-empty string without NUL bytes. */
static int y_text(yctx *y, const tl_ynode *n, const char *what, const char **out)
{
    if (tl_ynode_str(y->d, n, out, y->err, y->cap))
        return -1;
    if (y_is_null(n) || n->len == 0)
        return tl_ydoc_error(y->d, n, y->err, y->cap, "expected %s, got nothing", what);
    if (strlen(n->str) != n->len)
        return tl_ydoc_error(y->d, n, y->err, y->cap, "%s must not contain a NUL byte", what);
    return 0;
}

static int y_set_text(yctx *y, const tl_ynode *n, const char *what, char **dst)
{
    const char *s;
    if (y_text(y, n, what, &s))
        return -1;
    return set_str(dst, s) ? y_oom(y, n) : 0;
}

static int y_topic(yctx *y, const tl_ynode *n, const char **out)
{
    char why[128];
    if (y_text(y, n, "a topic name", out))
        return -1;
    if (topic_why(n->str, n->len, why, sizeof why))
        return tl_ydoc_error(y->d, n, y->err, y->cap, "invalid topic name '%.60s': %s", n->str,
                             why);
    return 0;
}

static int y_set_topic(yctx *y, const tl_ynode *n, char **dst)
{
    const char *s;
    if (y_topic(y, n, &s))
        return -1;
    return set_str(dst, s) ? y_oom(y, n) : 0;
}

/* A string or a sequence of strings (topics when is_topic); replaces *list on success. */
static int y_set_list(yctx *y, const tl_ynode *n, int is_topic, char ***list, size_t *nlist)
{
    const char *what = is_topic ? "a topic name" : "a rule file or directory";
    char **l = NULL;
    size_t cnt = 0;
    const tl_ynode *one[1] = {n};
    const tl_ynode *const *items = one;
    size_t n_items = 1;
    if (n->type == TL_Y_MAP)
        return tl_ydoc_error(y->d, n, y->err, y->cap, "expected %s or a list of them, got a "
                             "mapping", what);
    if (n->type == TL_Y_SEQ) {
        items = (const tl_ynode *const *)n->items;
        n_items = n->n;
        if (n_items == 0)
            return tl_ydoc_error(y->d, n, y->err, y->cap, "expected at least one entry (%s)",
                                 what);
    }
    for (size_t i = 0; i < n_items; i++) {
        const char *s;
        if (is_topic ? y_topic(y, items[i], &s) : y_text(y, items[i], what, &s))
            goto fail;
        if (list_has(l, cnt, s, items[i]->len)) {
            tl_ydoc_error(y->d, items[i], y->err, y->cap, "'%.60s' is listed twice", s);
            goto fail;
        }
        if (list_push(&l, &cnt, s, items[i]->len)) {
            y_oom(y, items[i]);
            goto fail;
        }
    }
    free_list(*list, *nlist);
    *list = l;
    *nlist = cnt;
    return 0;
fail:
    free_list(l, cnt);
    return -1;
}

static int y_choice(yctx *y, const tl_ynode *n, const char *const *names, int *out)
{
    const char *s;
    if (tl_ynode_str(y->d, n, &s, y->err, y->cap))
        return -1;
    char list[64] = "";
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0 && strlen(s) == n->len) {
            *out = i;
            return 0;
        }
        size_t o = strlen(list);
        snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
    }
    return tl_ydoc_error(y->d, n, y->err, y->cap, "expected one of %s, got '%.60s'", list, s);
}

/* Duration in [min_ms, MAX_DURATION_MS]. */
static int y_duration(yctx *y, const tl_ynode *n, int64_t min_ms, int64_t *out)
{
    int64_t v;
    if (tl_ynode_duration(y->d, n, &v, y->err, y->cap))
        return -1;
    if (v < min_ms)
        return tl_ydoc_error(y->d, n, y->err, y->cap, "must be greater than 0");
    if (v > MAX_DURATION_MS)
        return tl_ydoc_error(y->d, n, y->err, y->cap, "'%.60s' is too long (at most 365d)",
                             n->str);
    *out = v;
    return 0;
}

static int y_section(yctx *y, const tl_ynode *n, const char *const *keys)
{
    if (y_is_null(n))
        return 1; /* an empty section, e.g. everything below it commented out */
    return tl_ynode_check_keys(y->d, n, keys, y->err, y->cap);
}

/* `kafka:`, `consumer:`, `producer:` - librdkafka properties, values kept as text. */
static int y_props(yctx *y, const tl_ynode *n, tl_kv **kv, size_t *nkv)
{
    if (y_is_null(n))
        return 0;
    if (n->type != TL_Y_MAP)
        return tl_ydoc_error(y->d, n, y->err, y->cap,
                             "expected a mapping of librdkafka properties, got %s",
                             n->type == TL_Y_SEQ ? "a sequence" : "a string");
    for (size_t i = 0; i < n->n; i++) {
        const tl_ynode *k = n->keys[i], *v = n->items[i];
        const char *ks;
        if (y_text(y, k, "a property name", &ks))
            return -1;
        if (v->type != TL_Y_SCALAR)
            return tl_ydoc_error(y->d, v, y->err, y->cap,
                                 "property '%.60s': expected a scalar value, got %s", ks,
                                 v->type == TL_Y_SEQ ? "a sequence" : "a mapping");
        if (y_is_null(v))
            return tl_ydoc_error(y->d, v, y->err, y->cap,
                                 "property '%.60s' has no value (use \"\" for an empty one)",
                                 ks);
        if (strlen(v->str) != v->len)
            return tl_ydoc_error(y->d, v, y->err, y->cap,
                                 "property '%.60s': value must not contain a NUL byte", ks);
        if (kv_put(kv, nkv, ks, k->len, v->str, v->len))
            return y_oom(y, v);
    }
    return 0;
}

static int y_registry(yctx *y, tl_config *c, const tl_ynode *n)
{
    if (y_is_null(n))
        return 0;
    if (n->type != TL_Y_MAP)
        return tl_ydoc_error(y->d, n, y->err, y->cap,
                             "expected a mapping of schema id to schema file, got %s",
                             n->type == TL_Y_SEQ ? "a sequence" : "a string");
    for (size_t i = 0; i < n->n; i++) {
        int64_t id;
        const char *path;
        if (tl_ynode_int(y->d, n->keys[i], 1, MAX_SCHEMA_ID, &id, y->err, y->cap) ||
            y_text(y, n->items[i], "a schema file path", &path))
            return -1;
        /* "1" and "01" are different keys to YAML but the same schema id */
        for (size_t j = 0; j < i; j++) {
            int64_t prev;
            if (tl_ynode_int(y->d, n->keys[j], 1, MAX_SCHEMA_ID, &prev, NULL, 0) == 0 &&
                prev == id)
                return tl_ydoc_error(y->d, n->keys[i], y->err, y->cap,
                                     "schema id %" PRId64 " is listed twice (first at %" PRIu32
                                     ":%" PRIu32 ")", id, n->keys[j]->line, n->keys[j]->col);
        }
        size_t k = 0;
        while (k < c->n_registry && c->registry[k].id != (uint32_t)id)
            k++;
        if (k == c->n_registry) {
            tl_schema_ref *nr = tl_realloc(c->registry, (k + 1) * sizeof *nr);
            if (!nr)
                return y_oom(y, n->items[i]);
            c->registry = nr;
            nr[k] = (tl_schema_ref){(uint32_t)id, NULL};
            c->n_registry++;
        }
        if (set_str(&c->registry[k].path, path))
            return y_oom(y, n->items[i]);
    }
    return 0;
}

static int y_int_field(yctx *y, const tl_ynode *n, int64_t min, int64_t max, int64_t *out)
{
    return tl_ynode_int(y->d, n, min, max, out, y->err, y->cap);
}

static int y_apply_avro(yctx *y, tl_config *c, const tl_ynode *sec)
{
    int r = y_section(y, sec, AVRO_KEYS);
    if (r)
        return r > 0 ? 0 : -1;
    const tl_ynode *v;
    if ((v = tl_ynode_get(sec, "schema"))) {
        if (y_is_null(v)) {
            tl_free(c->avro_schema); /* explicit null: back to the built-in schema */
            c->avro_schema = NULL;
        } else if (y_set_text(y, v, "a schema file path", &c->avro_schema)) {
            return -1;
        }
    }
    if ((v = tl_ynode_get(sec, "registry")) && y_registry(y, c, v))
        return -1;
    return 0;
}

static int y_apply_window(yctx *y, tl_config *c, const tl_ynode *sec)
{
    int r = y_section(y, sec, WINDOW_KEYS);
    if (r)
        return r > 0 ? 0 : -1;
    const tl_ynode *v;
    if ((v = tl_ynode_get(sec, "lateness")) && y_duration(y, v, 0, &c->lateness_ms))
        return -1;
    if ((v = tl_ynode_get(sec, "max_lead")) && y_duration(y, v, 1, &c->max_lead_ms))
        return -1;
    if ((v = tl_ynode_get(sec, "idle_timeout")) && y_duration(y, v, 1, &c->idle_timeout_ms))
        return -1;
    if ((v = tl_ynode_get(sec, "eof_grace")) && y_duration(y, v, 0, &c->eof_grace_ms))
        return -1;
    return 0;
}

static int y_apply_alerts(yctx *y, tl_config *c, const tl_ynode *sec)
{
    int r = y_section(y, sec, ALERTS_KEYS);
    if (r)
        return r > 0 ? 0 : -1;
    const tl_ynode *v;
    if ((v = tl_ynode_get(sec, "renotify_interval")) && y_duration(y, v, 0, &c->renotify_ms))
        return -1;
    if ((v = tl_ynode_get(sec, "print")) &&
        tl_ynode_bool(y->d, v, &c->print_alerts, y->err, y->cap))
        return -1;
    if ((v = tl_ynode_get(sec, "heartbeat")) && y_duration(y, v, 0, &c->heartbeat_ms))
        return -1;
    if ((v = tl_ynode_get(sec, "resend_resolved_for")) && y_duration(y, v, 0, &c->resend_resolved_ms))
        return -1;
    if ((v = tl_ynode_get(sec, "resend_interval")) && y_duration(y, v, 1, &c->resend_interval_ms))
        return -1;
    if ((v = tl_ynode_get(sec, "self_check_interval")) && y_duration(y, v, 0, &c->self_check_ms))
        return -1;
    return 0;
}

static int y_apply_state(yctx *y, tl_config *c, const tl_ynode *sec)
{
    int r = y_section(y, sec, STATE_KEYS);
    if (r)
        return r > 0 ? 0 : -1;
    const tl_ynode *v;
    int ival = 0;
    if ((v = tl_ynode_get(sec, "dir"))) {
        if (y_is_null(v)) {
            tl_free(c->state_dir); /* explicit null: no checkpoints */
            c->state_dir = NULL;
        } else if (y_set_text(y, v, "a directory path", &c->state_dir)) {
            return -1;
        }
    }
    if ((v = tl_ynode_get(sec, "interval")) && y_duration(y, v, 1, &c->checkpoint_interval_ms))
        return -1;
    if ((v = tl_ynode_get(sec, "on_unreadable"))) {
        if (y_choice(y, v, UNREADABLE_POLICIES, &ival))
            return -1;
        c->fresh_state = ival;
    }
    if ((v = tl_ynode_get(sec, "store"))) {
        if (y_choice(y, v, STATE_STORES, &ival))
            return -1;
        c->state_kafka = ival;
    }
    if ((v = tl_ynode_get(sec, "topic")) && y_set_topic(y, v, &c->state_topic))
        return -1;
    return 0;
}

static int y_apply_ha(yctx *y, tl_config *c, const tl_ynode *sec)
{
    int r = y_section(y, sec, HA_KEYS);
    if (r)
        return r > 0 ? 0 : -1;
    const tl_ynode *v;
    if ((v = tl_ynode_get(sec, "mode")) && y_choice(y, v, HA_MODES, &c->standby))
        return -1;
    if ((v = tl_ynode_get(sec, "lease_topic")) && y_set_topic(y, v, &c->lease_topic))
        return -1;
    return 0;
}

static int y_apply_limits(yctx *y, tl_config *c, const tl_ynode *sec)
{
    int r = y_section(y, sec, LIMITS_KEYS);
    if (r)
        return r > 0 ? 0 : -1;
    const tl_ynode *v;
    int64_t x = 0;
    if ((v = tl_ynode_get(sec, "max_series"))) {
        if (y_int_field(y, v, 1, MAX_SERIES_LIMIT, &x))
            return -1;
        c->max_series = (uint64_t)x;
    }
    if ((v = tl_ynode_get(sec, "max_series_total"))) {
        if (y_int_field(y, v, 1, MAX_SERIES_TOTAL_LIMIT, &x))
            return -1;
        c->max_series_total = (uint64_t)x;
    }
    if ((v = tl_ynode_get(sec, "max_message_bytes"))) {
        if (y_int_field(y, v, 1, MAX_MESSAGE_LIMIT, &x))
            return -1;
        c->max_message_bytes = (size_t)x;
    }
    if ((v = tl_ynode_get(sec, "sketch_max_bytes"))) {
        if (y_int_field(y, v, 1, SKETCH_MAX_LIMIT, &x))
            return -1;
        c->sketch_max_bytes = (size_t)x;
    }
    if ((v = tl_ynode_get(sec, "max_future")) && y_duration(y, v, 0, &c->max_future_ms))
        return -1;
    if ((v = tl_ynode_get(sec, "future_timestamps"))) {
        int ival = 0;
        if (y_choice(y, v, FUTURE_POLICIES, &ival))
            return -1;
        c->clamp_future = ival;
    }
    return 0;
}

/* Apply every top-level entry, in document order, so the first error in the file wins. */
static int apply_doc(tl_config *c, const tl_ydoc *d, char *err, size_t cap)
{
    yctx y = {d, err, cap};
    const tl_ynode *root = d->root;
    if (!root || y_is_null(root))
        return 0; /* an empty file changes nothing */
    if (root->type != TL_Y_MAP)
        return tl_ydoc_error(d, root, err, cap, "a config file must be a mapping of settings, "
                             "got %s", root->type == TL_Y_SEQ ? "a sequence" : "a string");
    if (tl_ynode_check_keys(d, root, TOP_KEYS, err, cap))
        return -1;
    for (size_t i = 0; i < root->n; i++) {
        const char *k = root->keys[i]->str; /* one of TOP_KEYS, so NUL-free */
        const tl_ynode *v = root->items[i];
        int rc = 0, ival = 0;
        int64_t x = 0;
        if (!strcmp(k, "brokers"))
            rc = y_set_text(&y, v, "a broker list", &c->brokers);
        else if (!strcmp(k, "group"))
            rc = y_set_text(&y, v, "a consumer group id", &c->group);
        else if (!strcmp(k, "inputs"))
            rc = y_set_list(&y, v, 1, &c->inputs, &c->n_inputs);
        else if (!strcmp(k, "output"))
            rc = y_set_topic(&y, v, &c->output);
        else if (!strcmp(k, "dlq"))
            rc = y_set_topic(&y, v, &c->dlq);
        else if (!strcmp(k, "rules"))
            rc = y_set_list(&y, v, 0, &c->rules, &c->n_rules);
        else if (!strcmp(k, "input_format")) {
            if (!(rc = y_choice(&y, v, IN_FORMATS, &ival)))
                c->input_format = (tl_input_format)ival;
        } else if (!strcmp(k, "output_format")) {
            if (!(rc = y_choice(&y, v, OUT_FORMATS, &ival)))
                c->output_format = (tl_output_format)ival;
        } else if (!strcmp(k, "threads")) {
            if (!(rc = y_int_field(&y, v, 1, MAX_THREADS, &x)))
                c->threads = (int)x;
        } else if (!strcmp(k, "exit_at_end"))
            rc = tl_ynode_bool(d, v, &c->exit_at_end, err, cap);
        else if (!strcmp(k, "watch"))
            rc = tl_ynode_bool(d, v, &c->watch, err, cap);
        else if (!strcmp(k, "avro"))
            rc = y_apply_avro(&y, c, v);
        else if (!strcmp(k, "window"))
            rc = y_apply_window(&y, c, v);
        else if (!strcmp(k, "alerts"))
            rc = y_apply_alerts(&y, c, v);
        else if (!strcmp(k, "limits"))
            rc = y_apply_limits(&y, c, v);
        else if (!strcmp(k, "state"))
            rc = y_apply_state(&y, c, v);
        else if (!strcmp(k, "ha"))
            rc = y_apply_ha(&y, c, v);
        else if (!strcmp(k, "stats_interval"))
            rc = y_duration(&y, v, 0, &c->stats_interval_ms);
        else if (!strcmp(k, "shutdown_timeout"))
            rc = y_duration(&y, v, 0, &c->shutdown_timeout_ms);
        else if (!strcmp(k, "kafka"))
            rc = y_props(&y, v, &c->kafka, &c->n_kafka);
        else if (!strcmp(k, "consumer"))
            rc = y_props(&y, v, &c->consumer, &c->n_consumer);
        else if (!strcmp(k, "producer"))
            rc = y_props(&y, v, &c->producer, &c->n_producer);
        if (rc)
            return -1;
    }
    return 0;
}

/* Apply a loaded document (consumed) to c, all-or-nothing. */
static int apply_loaded(tl_config *c, tl_ydoc *d, char *err, size_t cap)
{
    tl_config tmp;
    int rc = -1;
    if (!d)
        return -1;
    if (config_copy(&tmp, c)) {
        tl_ydoc_error(d, NULL, err, cap, "out of memory");
        goto out;
    }
    if (apply_doc(&tmp, d, err, cap)) {
        tl_config_fini(&tmp);
        goto out;
    }
    tl_config_fini(c);
    *c = tmp;
    rc = 0;
out:
    tl_ydoc_destroy(d);
    return rc;
}

int tl_config_load_file(tl_config *c, const char *path, char *err, size_t errcap)
{
    return apply_loaded(c, tl_ydoc_load_file(path, err, errcap), err, errcap);
}

int tl_config_load_string(tl_config *c, const char *path, const char *buf, size_t len,
                          char *err, size_t errcap)
{
    return apply_loaded(c, tl_ydoc_load_string(path, buf, len, err, errcap), err, errcap);
}

/* ---- flags ---------------------------------------------------------------------------- */

typedef enum flag_id {
    FL_CONFIG, FL_BROKERS, FL_GROUP, FL_INPUT, FL_OUTPUT, FL_DLQ, FL_RULES, FL_INPUT_FORMAT,
    FL_OUTPUT_FORMAT, FL_THREADS, FL_EXIT_AT_END, FL_WATCH, FL_X, FL_LATENESS, FL_MAX_LEAD, FL_IDLE_TIMEOUT, FL_EOF_GRACE,
    FL_RENOTIFY, FL_PRINT, FL_NO_PRINT, FL_STATS, FL_AVRO_SCHEMA, FL_MAX_SERIES, FL_STATE_DIR, FL_CHECKPOINT,
    FL_FRESH_STATE, FL_HEARTBEAT, FL_MAX_SERIES_TOTAL, FL_SELF_CHECK, FL_STANDBY, FL_SHUTDOWN
} flag_id;

typedef struct flag_def {
    const char *name;
    const char *arg; /* NULL: a switch without a value */
    flag_id id;
    const char *help;
    const char *def; /* default shown in help, NULL for none */
} flag_def;

#define STR_(x) #x
#define STR(x) STR_(x)

static const flag_def FLAGS[] = {
    {"--config", "FILE", FL_CONFIG, "read settings from a YAML file (flags override it)", NULL},
    {"--brokers", "LIST", FL_BROKERS, "Kafka bootstrap servers, host:port,...",
     DEF_BROKERS},
    {"--group", "ID", FL_GROUP, "consumer group id", DEF_GROUP},
    {"--input", "TOPIC", FL_INPUT, "input topic; repeatable",
     DEF_INPUT},
    {"--output", "TOPIC", FL_OUTPUT, "topic alert events are produced to", DEF_OUTPUT},
    {"--dlq", "TOPIC", FL_DLQ, "dead-letter topic for undecodable messages",
     DEF_DLQ},
    {"--rules", "PATH", FL_RULES, "rule file or directory (*.yaml); repeatable",
     DEF_RULES},
    {"--input-format", "FMT", FL_INPUT_FORMAT, "auto, json or avro", "auto"},
    {"--output-format", "FMT", FL_OUTPUT_FORMAT, "json or avro", "json"},
    {"--threads", "N", FL_THREADS, "worker threads, 1.." STR(MAX_THREADS), STR(DEF_THREADS)},
    {"--exit-at-end", NULL, FL_EXIT_AT_END, "stop when all assigned partitions reach their end",
     "off"},
    {"--watch", NULL, FL_WATCH, "reload the rules when their files change (also: SIGHUP)", "off"},
    {"-X", "KEY=VALUE", FL_X, "librdkafka property for both clients; repeatable", NULL},
    {"--lateness", "DUR", FL_LATENESS, "how late an event may arrive and still count", "30s"},
    {"--max-lead", "DUR", FL_MAX_LEAD, "how far a partition may run ahead of the others", "5m"},
    {"--idle-timeout", "DUR", FL_IDLE_TIMEOUT,
     "idle time before a partition stops holding back", "10s"},
    {"--eof-grace", "DUR", FL_EOF_GRACE,
     "a partition at its end holds the watermark this long (time-compressed replays)", "0"},
    {"--renotify-interval", "DUR", FL_RENOTIFY, "repeat a firing alert this often; 0 = never",
     "4h"},
    {"--print-alerts", NULL, FL_PRINT, "also print each alert as a line on stdout", "off"},
    {"--no-print-alerts", NULL, FL_NO_PRINT, "do not print alerts on stdout", NULL},
    {"--stats-interval", "DUR", FL_STATS, "print a stats line on stderr this often; 0 = never",
     "0"},
    {"--avro-schema", "PATH", FL_AVRO_SCHEMA, "Avro schema file for raw Avro input",
     "built-in"},
    {"--max-series", "N", FL_MAX_SERIES, "series per group-by table", STR(DEF_MAX_SERIES)},
    {"--state-dir", "DIR", FL_STATE_DIR, "checkpoint window and alert state here (restored at start)",
     "none: in memory"},
    {"--checkpoint-interval", "DUR", FL_CHECKPOINT, "how often to checkpoint", "30s"},
    {"--fresh-state", NULL, FL_FRESH_STATE, "start empty if the checkpoint is unreadable or incompatible",
     "off: refuse to start"},
    {"--heartbeat", "DUR", FL_HEARTBEAT, "send an always-firing heartbeat alert this often; 0 = off", "0"},
    {"--max-series-total", "N", FL_MAX_SERIES_TOTAL, "series per worker over all group-by tables",
     STR(DEF_MAX_SERIES_TOTAL)},
    {"--self-check-interval", "DUR", FL_SELF_CHECK,
     "check the alerts about tripline itself (overflow, checkpoints) this often; 0 = off", "1m"},
    {"--standby", NULL, FL_STANDBY, "ha.mode standby: one active instance per group, the others wait",
     "off: single"},
    {"--shutdown-timeout", "DUR", FL_SHUTDOWN,
     "how long a stop waits for alerts in flight to be delivered; what is not stays uncommitted", "30s"},
};
#define N_FLAGS (sizeof FLAGS / sizeof FLAGS[0])

static char help_buf[4096];
static pthread_once_t help_once = PTHREAD_ONCE_INIT;

static void build_help(void)
{
    size_t o = 0;
    for (size_t i = 0; i < N_FLAGS && o < sizeof help_buf; i++) {
        char lhs[48];
        const flag_def *f = &FLAGS[i];
        snprintf(lhs, sizeof lhs, "%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        int w = f->def ? snprintf(help_buf + o, sizeof help_buf - o,
                                  "  %-26s %s (default: %s)\n", lhs, f->help, f->def)
                       : snprintf(help_buf + o, sizeof help_buf - o, "  %-26s %s\n", lhs,
                                  f->help);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

const char *tl_config_flags_help(void)
{
    pthread_once(&help_once, build_help);
    return help_buf;
}

static const flag_def *flag_find(const char *name, size_t n)
{
    for (size_t i = 0; i < N_FLAGS; i++)
        if (strlen(FLAGS[i].name) == n && memcmp(FLAGS[i].name, name, n) == 0)
            return &FLAGS[i];
    return NULL;
}

static int flag_duration(const char *flag, const char *v, int64_t min_ms, int64_t *out,
                         char *err, size_t cap)
{
    int64_t ms;
    size_t bad = 0;
    if (tl_duration_parse(v, strlen(v), &ms, &bad))
        return errf(err, cap, "%s: invalid duration '%.60s' (%s)", flag, v, DURATION_HINT);
    if (ms < min_ms)
        return errf(err, cap, "%s: must be greater than 0, got '%.60s'", flag, v);
    if (ms > MAX_DURATION_MS)
        return errf(err, cap, "%s: '%.60s' is too long (at most 365d)", flag, v);
    *out = ms;
    return 0;
}

static int flag_int(const char *flag, const char *v, int64_t min, int64_t max, int64_t *out,
                    char *err, size_t cap)
{
    int64_t x = 0;
    if (parse_i64(v, &x) || x < min || x > max)
        return errf(err, cap, "%s: expected an integer in %" PRId64 "..%" PRId64 ", got '%.60s'",
                    flag, min, max, v);
    *out = x;
    return 0;
}

static int flag_topic(const char *flag, const char *v, char *err, size_t cap)
{
    char why[128];
    if (topic_why(v, strlen(v), why, sizeof why))
        return errf(err, cap, "%s: invalid topic name '%.60s': %s", flag, v, why);
    return 0;
}

static int flag_choice(const char *flag, const char *v, const char *const *names, int *out,
                       char *err, size_t cap)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return errf(err, cap, "%s: expected %s, got '%.60s'", flag,
                names == IN_FORMATS ? "auto, json or avro" : "json or avro", v);
}

/* One flag with its value (NULL for switches) applied to c. */
static int apply_flag(tl_config *c, const flag_def *f, const char *v, int *inputs_seen,
                      int *rules_seen, char *err, size_t cap)
{
    const char *fl = f->name;
    int64_t x = 0;
    int ival = 0;
    switch (f->id) {
    case FL_CONFIG:
        return 0; /* handled by the caller before the flags */
    case FL_BROKERS:
    case FL_GROUP:
    case FL_AVRO_SCHEMA:
        if (!*v)
            return errf(err, cap, "%s: value must not be empty", fl);
        if (set_str(f->id == FL_BROKERS ? &c->brokers
                    : f->id == FL_GROUP ? &c->group
                                        : &c->avro_schema,
                    v))
            return errf(err, cap, "%s: out of memory", fl);
        return 0;
    case FL_OUTPUT:
    case FL_DLQ:
        if (flag_topic(fl, v, err, cap))
            return -1;
        if (set_str(f->id == FL_OUTPUT ? &c->output : &c->dlq, v))
            return errf(err, cap, "%s: out of memory", fl);
        return 0;
    case FL_INPUT:
    case FL_RULES: {
        int is_input = f->id == FL_INPUT;
        char ***l = is_input ? &c->inputs : &c->rules;
        size_t *n = is_input ? &c->n_inputs : &c->n_rules;
        int *seen = is_input ? inputs_seen : rules_seen;
        if (is_input ? flag_topic(fl, v, err, cap) : (!*v ? errf(err, cap, "%s: value must "
                                                                 "not be empty", fl) : 0))
            return -1;
        if (!*seen) { /* the first occurrence replaces the default (or file) list */
            free_list(*l, *n);
            *l = NULL;
            *n = 0;
            *seen = 1;
        }
        if (list_has(*l, *n, v, strlen(v)))
            return errf(err, cap, "%s: '%.60s' is given twice", fl, v);
        if (list_push(l, n, v, strlen(v)))
            return errf(err, cap, "%s: out of memory", fl);
        return 0;
    }
    case FL_INPUT_FORMAT:
        if (flag_choice(fl, v, IN_FORMATS, &ival, err, cap))
            return -1;
        c->input_format = (tl_input_format)ival;
        return 0;
    case FL_OUTPUT_FORMAT:
        if (flag_choice(fl, v, OUT_FORMATS, &ival, err, cap))
            return -1;
        c->output_format = (tl_output_format)ival;
        return 0;
    case FL_THREADS:
        if (flag_int(fl, v, 1, MAX_THREADS, &x, err, cap))
            return -1;
        c->threads = (int)x;
        return 0;
    case FL_MAX_SERIES:
        if (flag_int(fl, v, 1, MAX_SERIES_LIMIT, &x, err, cap))
            return -1;
        c->max_series = (uint64_t)x;
        return 0;
    case FL_MAX_SERIES_TOTAL:
        if (flag_int(fl, v, 1, MAX_SERIES_TOTAL_LIMIT, &x, err, cap))
            return -1;
        c->max_series_total = (uint64_t)x;
        return 0;
    case FL_SELF_CHECK:
        return flag_duration(fl, v, 0, &c->self_check_ms, err, cap);
    case FL_STANDBY:
        c->standby = 1;
        return 0;
    case FL_STATE_DIR:
        if (!*v)
            return errf(err, cap, "%s: value must not be empty", fl);
        if (set_str(&c->state_dir, v))
            return errf(err, cap, "%s: out of memory", fl);
        return 0;
    case FL_CHECKPOINT:
        return flag_duration(fl, v, 1, &c->checkpoint_interval_ms, err, cap);
    case FL_FRESH_STATE:
        c->fresh_state = 1;
        return 0;
    case FL_HEARTBEAT:
        return flag_duration(fl, v, 0, &c->heartbeat_ms, err, cap);
    case FL_EXIT_AT_END:
        c->exit_at_end = 1;
        return 0;
    case FL_WATCH:
        c->watch = 1;
        return 0;
    case FL_PRINT:
    case FL_NO_PRINT:
        c->print_alerts = f->id == FL_PRINT;
        return 0;
    case FL_X: {
        /* The argument may carry a secret (`-X sasl.password:hunter2`, `-X =hunter2`): quote
         * only its leading property name, never what follows. */
        const char *eq = strchr(v, '=');
        if (!eq) {
            size_t kn = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
            return errf(err, cap, "-X: expected key=value, got '%.*s%s'", (int)(kn < 60 ? kn : 60), v,
                        v[kn] || kn > 60 ? "..." : "");
        }
        if (eq == v)
            return errf(err, cap, "-X: missing property name before '='");
        if (kv_put(&c->kafka, &c->n_kafka, v, (size_t)(eq - v), eq + 1, strlen(eq + 1)))
            return errf(err, cap, "-X: out of memory");
        return 0;
    }
    case FL_LATENESS:
        return flag_duration(fl, v, 0, &c->lateness_ms, err, cap);
    case FL_MAX_LEAD:
        return flag_duration(fl, v, 1, &c->max_lead_ms, err, cap);
    case FL_IDLE_TIMEOUT:
        return flag_duration(fl, v, 1, &c->idle_timeout_ms, err, cap);
    case FL_EOF_GRACE:
        return flag_duration(fl, v, 0, &c->eof_grace_ms, err, cap);
    case FL_RENOTIFY:
        return flag_duration(fl, v, 0, &c->renotify_ms, err, cap);
    case FL_STATS:
        return flag_duration(fl, v, 0, &c->stats_interval_ms, err, cap);
    case FL_SHUTDOWN:
        return flag_duration(fl, v, 0, &c->shutdown_timeout_ms, err, cap);
    }
    return errf(err, cap, "%s: not handled", fl);
}

static int apply_args(tl_config *c, int argc, char **argv, char *err, size_t cap)
{
    int inputs_seen = 0, rules_seen = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const flag_def *f;
        const char *v = NULL;
        if (!a)
            continue;
        if (a[0] == '-' && a[1] == 'X') {
            f = flag_find("-X", 2);
            if (a[2]) /* -Xkey=value */
                v = a + 2;
        } else if (a[0] == '-' && a[1] == '-' && a[2]) {
            const char *eq = strchr(a, '=');
            size_t nl = eq ? (size_t)(eq - a) : strlen(a);
            f = flag_find(a, nl);
            if (!f)
                return errf(err, cap, "unknown flag '%.*s' (see --help for the list)",
                            (int)(nl > 60 ? 60 : nl), a);
            if (eq) {
                if (!f->arg)
                    return errf(err, cap, "%s takes no value, got '%.60s'", f->name, a);
                v = eq + 1;
            }
        } else if (a[0] == '-') {
            return errf(err, cap, "unknown flag '%.60s' (see --help for the list)", a);
        } else {
            return errf(err, cap, "unexpected argument '%.60s' (flags start with --)", a);
        }
        if (f->arg && !v) {
            if (i + 1 >= argc || !argv[i + 1])
                return errf(err, cap, "%s: missing value (%s)", f->name, f->arg);
            v = argv[++i];
            if (v[0] == '-' && v[1] == '-' && f->id != FL_X)
                return errf(err, cap, "%s: missing value (%s), got the flag '%.60s'", f->name,
                            f->arg, v);
        }
        if (apply_flag(c, f, v, &inputs_seen, &rules_seen, err, cap))
            return -1;
    }
    return 0;
}

int tl_config_apply_args(tl_config *c, int argc, char **argv, char *err, size_t errcap)
{
    tl_config tmp;
    if (config_copy(&tmp, c))
        return errf(err, errcap, "out of memory");
    if (apply_args(&tmp, argc, argv, err, errcap)) {
        tl_config_fini(&tmp);
        return -1;
    }
    tl_config_fini(c);
    *c = tmp;
    return 0;
}

/* ---- cross-field checks --------------------------------------------------------------- */

static int check_topic(const char *what, const char *flag, const char *t, char *err,
                       size_t cap)
{
    char why[128];
    if (!t)
        return errf(err, cap, "%s (%s): not set", what, flag);
    if (topic_why(t, strlen(t), why, sizeof why))
        return errf(err, cap, "%s (%s): invalid topic name '%.60s': %s", what, flag, t, why);
    return 0;
}

/* `what` names the setting as "key (--flag)" or just "key" when it has no flag. */
static int check_duration(const char *what, int64_t v, int64_t min, char *err, size_t cap)
{
    if (v < min)
        return errf(err, cap, "%s: must be %s, got %" PRId64 "ms", what,
                    min > 0 ? "greater than 0" : "0 or more", v);
    if (v > MAX_DURATION_MS)
        return errf(err, cap, "%s: at most 365d, got %" PRId64 "ms", what, v);
    return 0;
}

/* Case-insensitive: does `s` contain the lowercase word `w`? */
static int has_word(const char *s, const char *w)
{
    size_t wn = strlen(w);
    for (; *s; s++) {
        size_t i = 0;
        while (i < wn && s[i] && (s[i] | 0x20) == w[i])
            i++;
        if (i == wn)
            return 1;
    }
    return 0;
}

int tl_config_prop_is_secret(const char *key)
{
    /* librdkafka's _RK_SENSITIVE properties, then words that name secrets in any client */
    static const char *const exact[] = {"sasl.username", "sasl.oauthbearer.config", "ssl.key.location",
                                        "ssl.key.pem", "ssl.ca.pem", "ssl_key", NULL};
    static const char *const words[] = {"passw", "pwd", "secret", "token", "credential", "jaas", NULL};
    if (!key)
        return 0;
    for (const char *const *e = exact; *e; e++)
        if (strcasecmp(key, *e) == 0)
            return 1;
    for (const char *const *w = words; *w; w++)
        if (has_word(key, *w))
            return 1;
    return 0;
}

static int check_props(const char *what, const tl_kv *kv, size_t n, char *err, size_t cap)
{
    for (size_t i = 0; i < n; i++)
        if (!kv[i].key || !kv[i].key[0] || !kv[i].val)
            return errf(err, cap, "%s: property %zu has an empty name or no value", what, i + 1);
    return 0;
}

int tl_config_validate(const tl_config *c, char *err, size_t cap)
{
    if (!c->brokers || !c->brokers[0])
        return errf(err, cap, "brokers (--brokers): must not be empty");
    if (!c->group || !c->group[0])
        return errf(err, cap, "group (--group): must not be empty");
    if (c->n_inputs == 0)
        return errf(err, cap, "inputs (--input): at least one input topic is required");
    for (size_t i = 0; i < c->n_inputs; i++) {
        if (check_topic("inputs", "--input", c->inputs[i], err, cap))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->inputs[i], c->inputs[j]) == 0)
                return errf(err, cap, "inputs (--input): '%.60s' is listed twice",
                            c->inputs[i]);
    }
    if (check_topic("output", "--output", c->output, err, cap) ||
        check_topic("dlq", "--dlq", c->dlq, err, cap))
        return -1;
    for (size_t i = 0; i < c->n_inputs; i++) {
        if (strcmp(c->output, c->inputs[i]) == 0)
            return errf(err, cap, "output (--output): '%.60s' is also an input topic; alerts "
                        "would be read back as trace events", c->output);
        if (strcmp(c->dlq, c->inputs[i]) == 0)
            return errf(err, cap, "dlq (--dlq): '%.60s' is also an input topic; dead letters "
                        "would be read back forever", c->dlq);
    }
    if (strcmp(c->output, c->dlq) == 0)
        return errf(err, cap, "dlq (--dlq): '%.60s' is also the output topic; alerts and dead "
                    "letters must go to different topics", c->dlq);
    if (c->n_rules == 0)
        return errf(err, cap, "rules (--rules): at least one rule file or directory is "
                    "required");
    for (size_t i = 0; i < c->n_rules; i++)
        if (!c->rules[i] || !c->rules[i][0])
            return errf(err, cap, "rules (--rules): entry %zu is empty", i + 1);
    if (c->input_format < TL_IN_AUTO || c->input_format > TL_IN_AVRO)
        return errf(err, cap, "input_format (--input-format): expected auto, json or avro");
    if (c->output_format < TL_OUT_JSON || c->output_format > TL_OUT_AVRO)
        return errf(err, cap, "output_format (--output-format): expected json or avro");
    if (c->threads < 1 || c->threads > MAX_THREADS)
        return errf(err, cap, "threads (--threads): expected an integer in 1..%d, got %d",
                    MAX_THREADS, c->threads);
    if (c->avro_schema && !c->avro_schema[0])
        return errf(err, cap, "avro.schema (--avro-schema): must not be empty");
    for (size_t i = 0; i < c->n_registry; i++) {
        if (c->registry[i].id < 1 || c->registry[i].id > MAX_SCHEMA_ID)
            return errf(err, cap, "avro.registry: schema id %" PRIu32 " is out of range 1..%lld",
                        c->registry[i].id, MAX_SCHEMA_ID);
        if (!c->registry[i].path || !c->registry[i].path[0])
            return errf(err, cap, "avro.registry: schema id %" PRIu32 " has no file",
                        c->registry[i].id);
        for (size_t j = 0; j < i; j++)
            if (c->registry[j].id == c->registry[i].id)
                return errf(err, cap, "avro.registry: schema id %" PRIu32 " is listed twice",
                            c->registry[i].id);
    }
    if (check_duration("window.lateness (--lateness)", c->lateness_ms, 0, err, cap) ||
        check_duration("window.max_lead (--max-lead)", c->max_lead_ms, 1, err, cap) ||
        check_duration("window.idle_timeout (--idle-timeout)", c->idle_timeout_ms, 1, err,
                       cap) ||
        check_duration("window.eof_grace (--eof-grace)", c->eof_grace_ms, 0, err, cap) ||
        check_duration("alerts.renotify_interval (--renotify-interval)", c->renotify_ms, 0, err,
                       cap) ||
        check_duration("stats_interval (--stats-interval)", c->stats_interval_ms, 0, err, cap) ||
        check_duration("shutdown_timeout (--shutdown-timeout)", c->shutdown_timeout_ms, 0, err, cap) ||
        check_duration("state.interval (--checkpoint-interval)", c->checkpoint_interval_ms, 1, err, cap) ||
        check_duration("limits.max_future", c->max_future_ms, 0, err, cap) ||
        check_duration("alerts.heartbeat (--heartbeat)", c->heartbeat_ms, 0, err, cap) ||
        check_duration("alerts.resend_resolved_for", c->resend_resolved_ms, 0, err, cap) ||
        check_duration("alerts.resend_interval", c->resend_interval_ms, 1, err, cap) ||
        check_duration("alerts.self_check_interval (--self-check-interval)", c->self_check_ms, 0, err, cap))
        return -1;
    if (c->state_dir && !c->state_dir[0])
        return errf(err, cap, "state.dir (--state-dir): must not be empty");
    if (c->state_kafka && !c->state_dir)
        return errf(err, cap, "state.store: kafka needs state.dir too (the local checkpoint is written first, "
                              "then copied to the topic)");
    if (!c->state_topic || !c->lease_topic)
        return errf(err, cap, "state.topic: out of memory");
    if (c->standby && !c->state_dir)
        return errf(err, cap, "ha.mode: standby (--standby) needs state.dir: an instance that takes over must "
                              "restore the state (state.store: kafka, or a state.dir shared by the instances)");
    if (c->standby) {
        for (size_t i = 0; i < c->n_inputs; i++)
            if (strcmp(c->inputs[i], c->lease_topic) == 0)
                return errf(err, cap, "ha.lease_topic '%s' is also an input topic", c->lease_topic);
        if (strcmp(c->lease_topic, c->output) == 0 || strcmp(c->lease_topic, c->dlq) == 0 ||
            (c->state_kafka && strcmp(c->lease_topic, c->state_topic) == 0))
            return errf(err, cap, "ha.lease_topic '%s' is also the output, dead-letter or state topic", c->lease_topic);
    }
    if (c->state_kafka) {
        for (size_t i = 0; i < c->n_inputs; i++)
            if (strcmp(c->inputs[i], c->state_topic) == 0)
                return errf(err, cap, "state.topic '%s' is also an input topic", c->state_topic);
        if (strcmp(c->state_topic, c->output) == 0 || strcmp(c->state_topic, c->dlq) == 0)
            return errf(err, cap, "state.topic '%s' is also the output or dead-letter topic", c->state_topic);
    }
    if (c->max_series < 1 || c->max_series > (uint64_t)MAX_SERIES_LIMIT)
        return errf(err, cap, "limits.max_series (--max-series): expected 1..%lld, got %" PRIu64,
                    MAX_SERIES_LIMIT, c->max_series);
    if (c->max_series_total < 1 || c->max_series_total > (uint64_t)MAX_SERIES_TOTAL_LIMIT)
        return errf(err, cap, "limits.max_series_total (--max-series-total): expected 1..%lld, got %" PRIu64,
                    MAX_SERIES_TOTAL_LIMIT, c->max_series_total);
    if (c->max_message_bytes < 1 || c->max_message_bytes > (size_t)MAX_MESSAGE_LIMIT)
        return errf(err, cap, "limits.max_message_bytes: expected 1..%lld, got %zu",
                    MAX_MESSAGE_LIMIT, c->max_message_bytes);
    if (c->sketch_max_bytes < 1 || (uint64_t)c->sketch_max_bytes > (uint64_t)SKETCH_MAX_LIMIT)
        return errf(err, cap, "limits.sketch_max_bytes: expected 1..%lld, got %zu",
                    SKETCH_MAX_LIMIT, c->sketch_max_bytes);
    if (check_props("kafka (-X)", c->kafka, c->n_kafka, err, cap) ||
        check_props("consumer", c->consumer, c->n_consumer, err, cap) ||
        check_props("producer", c->producer, c->n_producer, err, cap))
        return -1;
    return 0;
}
