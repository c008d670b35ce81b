/* engine/config.h - the engine's configuration: YAML file, then command-line flags on top.
 *
 * `tripline run --config FILE` reads FILE; every setting also has a flag, and flags given on
 * the command line override the file. A bad config refuses to start with a message that says
 * where (file:line:col) and why. Unknown keys are errors (a typo must not be silently
 * ignored). Defaults are chosen for a single-node deployment against a local broker.
 *
 * Ownership: tl_config owns all its strings; tl_config_fini() frees them.
 */
#ifndef TL_CONFIG_H
#define TL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum tl_input_format { TL_IN_AUTO = 0, TL_IN_JSON, TL_IN_AVRO } tl_input_format;
typedef enum tl_output_format { TL_OUT_JSON = 0, TL_OUT_AVRO } tl_output_format;

typedef struct tl_kv {
    char *key;
    char *val;
} tl_kv;

typedef struct tl_schema_ref {
    uint32_t id;  /* Confluent schema id */
    char *path;   /* Avro schema file */
} tl_schema_ref;

typedef struct tl_config {
    char *brokers;           /* default "localhost:9092" */
    char *group;             /* consumer group, default "tripline" */
    char **inputs;           /* input topics, default {"agent-traces"} */
    size_t n_inputs;
    char *output;            /* alerts topic, default "tripline-alerts" */
    char *dlq;               /* dead-letter topic, default "tripline-dlq" */
    char **rules;            /* rule files or directories (*.yaml, *.yml), default {"rules"} */
    size_t n_rules;
    tl_input_format input_format;   /* default auto */
    tl_output_format output_format; /* default json */
    int threads;                    /* worker threads, 1..64, default 2 */
    int exit_at_end;                /* stop when all assigned partitions reached their end */
    int watch;                      /* reload the rules when their files change */
    char *avro_schema;              /* schema file for raw Avro; NULL = built-in */
    tl_schema_ref *registry;        /* Confluent schema ids -> files; id 1 = built-in if absent */
    size_t n_registry;
    int64_t lateness_ms;            /* allowed lateness, default 30s */
    int64_t max_lead_ms;            /* how far ahead of the watermark a partition may be folded
                                       before it is held back, default 2m */
    int64_t idle_timeout_ms;        /* a partition with no data this long stops holding back
                                       the watermark, default 10s */
    int64_t eof_grace_ms;           /* a partition at its end still holds the watermark this
                                       long after its last message, default 0 */
    int64_t renotify_ms;            /* default re-notify interval while firing, default 4h;
                                       0 = never */
    uint64_t max_series;            /* per group-by table, default 100000 */
    uint64_t max_series_total;      /* per worker over all group-by tables, default 1000000 */
    size_t max_message_bytes;       /* default 1 MiB */
    size_t sketch_max_bytes;        /* per worker, default 1 GiB */
    int print_alerts;               /* print each alert as a line on stdout */
    int64_t stats_interval_ms;      /* 0 = no periodic stats line on stderr */
    int64_t shutdown_timeout_ms;    /* a stop waits this long for the alerts in flight to be
                                       delivered (default 30 s); the input after the first one
                                       that is not stays uncommitted, and is read again */
    /* state (checkpoint.c): where checkpoints go, how often, and what an unreadable one does */
    char *state_dir;                /* NULL: no checkpoints, state is in memory only */
    int state_kafka;                /* 1: checkpoints also go to the compacted topic state_topic,
                                       and a start without a local checkpoint restores from it */
    char *state_topic;              /* default "tripline-state" */
    int64_t checkpoint_interval_ms; /* default 30s */
    /* several instances (lease.h): 0 = single (one instance per group), 1 = standby (one active
       instance, elected in the group "<group>.lease" on lease_topic; the others wait) */
    int standby;
    char *lease_topic;              /* default "tripline-lease" */
    int fresh_state;                /* start empty when the checkpoint is unreadable or
                                       incompatible, instead of refusing to start */
    /* event time far ahead of the wall clock */
    int64_t max_future_ms;          /* default 1h; 0 = no check */
    int clamp_future;               /* 0: dead-letter (bad_timestamp), 1: clamp to now + max */
    /* delivery extras */
    int64_t heartbeat_ms;           /* dead-man's switch: an always-firing alert re-sent this
                                       often; 0 = off (default) */
    int64_t resend_resolved_ms;     /* re-send a resolved notification for this long after
                                       resolving, default 15m; 0 = never */
    int64_t resend_interval_ms;     /* ... this often, default 5m */
    int64_t self_check_ms;          /* alerts about tripline itself (selfalert.h) are checked
                                       this often, default 1m; 0 = off */
    tl_kv *kafka;                   /* librdkafka properties for both clients (-X) */
    size_t n_kafka;
    tl_kv *consumer;                /* consumer-only properties */
    size_t n_consumer;
    tl_kv *producer;                /* producer-only properties */
    size_t n_producer;
} tl_config;

void tl_config_init(tl_config *c); /* defaults */
void tl_config_fini(tl_config *c);

/* Load a YAML config file over the current values. -1 with "file:line:col: msg" in err. */
int tl_config_load_file(tl_config *c, const char *path, char *err, size_t errcap);
/* Same as tl_config_load_file() for a buffer already in memory (`path` names it in
 * messages). Used by tests and the config fuzzer. */
int tl_config_load_string(tl_config *c, const char *path, const char *buf, size_t len,
                          char *err, size_t errcap);

/* Apply `run` flags (argv[0] is the first flag, not the program name) over the current
 * values. --config is handled by the caller first (flags override the file); this function
 * skips "--config X". Unknown flags and bad values: -1 with a message. */
int tl_config_apply_args(tl_config *c, int argc, char **argv, char *err, size_t errcap);

/* Cross-field checks (threads range, non-empty topics, output != any input, ...). */
int tl_config_validate(const tl_config *c, char *err, size_t errcap);

/* 1 when librdkafka property `key` holds a secret, whose value is never printed (messages
 * show "[redacted]") and is redacted from every log line (tl_log_add_secret): the properties
 * librdkafka itself marks sensitive (sasl.username, sasl.password, sasl.oauthbearer.config,
 * ssl.key.location, ssl.key.password, ssl.key.pem, ssl.keystore.password, ssl.ca.pem) and any
 * whose name contains passw (password, passwd, a typo such as passwrd), pwd, secret, token,
 * credential or jaas, in any case. */
int tl_config_prop_is_secret(const char *key);

/* Usage text for the flags, for --help. */
const char *tl_config_flags_help(void);

#endif
