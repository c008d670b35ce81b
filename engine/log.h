/* engine/log.h - diagnostics on stderr: "2026-11-27T17:42:18.123Z WARN worker 1: ...".
 * Never on the per-event path (each line is a write(2)). Thread-safe (one fprintf per line). */
#ifndef TL_LOG_H
#define TL_LOG_H

typedef enum tl_log_level { TL_LOG_DEBUG, TL_LOG_INFO, TL_LOG_WARN, TL_LOG_ERROR } tl_log_level;

void tl_log(tl_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tl_log_set_level(tl_log_level lvl);

#endif
