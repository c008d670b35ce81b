/* engine/timefmt.h - timestamps and durations as text.
 *
 * RFC 3339 timestamps ("2026-11-27T17:42:18.123Z", "...+02:00", any number of fraction
 * digits, 'T' or 't' or ' ' as separator) are parsed without libc (no strptime/timegm, which
 * take locks or consult the TZ database) so decoders may call them per event. Durations use
 * the Prometheus notation: "500ms", "15s", "10m", "1h30m", "7d", "1w".
 * All functions are pure and thread-safe.
 */
#ifndef TL_TIMEFMT_H
#define TL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parse an RFC 3339 timestamp into epoch milliseconds (fractions below 1 ms truncated).
 * Returns 0 on success, -1 on any syntax or range error (year 0000-9999, valid day of
 * month, hour <= 23, minute <= 59, second <= 60). */
int tl_time_parse_rfc3339(const char *s, size_t n, int64_t *out_ms);

/* Format epoch ms as "2026-11-27T17:42:18.123Z" (always UTC, always 3 fraction digits).
 * `buf` needs 25 bytes; returns the length written (24), NUL-terminated. */
size_t tl_time_format_rfc3339(int64_t ms, char *buf, size_t cap);

/* Parse a duration ("10m", "1h30m", "250ms", "0") into milliseconds. Returns 0 on success,
 * -1 on error; on error *err_col (if not NULL) gets the 0-based offset of the bad char. */
int tl_duration_parse(const char *s, size_t n, int64_t *out_ms, size_t *err_col);

/* Format ms as the shortest duration string: 600000 -> "10m", 5400000 -> "1h30m",
 * 1500 -> "1s500ms", 0 -> "0s". Returns length, NUL-terminated (truncates to cap). */
size_t tl_duration_format(int64_t ms, char *buf, size_t cap);

#endif
