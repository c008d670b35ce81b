/* engine/log.h - diagnostics on stderr: "2026-11-27T17:42:18.123Z WARN worker 1: ...".
 * Never on the per-event path (each line is a write(2)). Thread-safe (one fprintf per line).
 *
 * Secrets: values that must never appear in a log line (passwords, keys and tokens among the
 * librdkafka properties; tl_kafka_conf_set() registers them as it applies them). Every line
 * tl_log writes has each registered value replaced by "[redacted]", whoever formatted it:
 * tripline itself or librdkafka (whose log lines tl_kafka_conf_set routes through tl_log).
 */
#ifndef TL_LOG_H
#define TL_LOG_H

#include <stddef.h>

typedef enum tl_log_level { TL_LOG_DEBUG, TL_LOG_INFO, TL_LOG_WARN, TL_LOG_ERROR } tl_log_level;

#define TL_LOG_REDACTED "[redacted]"
/* Shorter values are not registered: replacing every "ab" in the log would garble it, and
 * where tripline prints a secret property it shows "[redacted]" whatever the length. */
#define TL_LOG_SECRET_MIN 4

void tl_log(tl_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tl_log_set_level(tl_log_level lvl);

/* Register a secret for the rest of the process (a copy is kept in fixed storage; nothing is
 * allocated). 0, also for a value already registered or one shorter than TL_LOG_SECRET_MIN;
 * -1 when the storage (64 values, 32 KiB) is full. Any thread; meant for startup. */
int tl_log_add_secret(const char *s);

/* Replace every registered secret in the NUL-terminated `msg` (buffer of `cap` bytes) with
 * "[redacted]", in place; a result longer than cap - 1 bytes is cut. For messages printed
 * other than through tl_log (an error returned to main). Any thread. */
void tl_log_redact(char *msg, size_t cap);

#endif
