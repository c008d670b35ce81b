/* engine/decode.h - pick the decoder for a message: JSON, framed Avro, or raw Avro.
 *
 * Detection (input format `auto`): a first byte of 0x00 means the Confluent framing (then a
 * 4-byte big-endian schema id selects a compiled program from the registry); a first
 * non-whitespace byte of '{' means JSON; anything else is raw Avro in the configured schema.
 * This is unambiguous for the built-in schema because its first field is the timestamp: a
 * valid event time never zig-zag encodes to a first byte of 0x00, '{' or whitespace.
 * Format `json` only accepts JSON; `avro` accepts framed and raw Avro. With the built-in raw
 * schema, a first byte of 0x01..0x7f that is not JSON is bad_magic (see decode.c). Avro
 * timestamps get the range check JSON ones get (1970..9999, else bad_timestamp).
 *
 * Far-future timestamps (limits.max_future, limits.future_timestamps): with max_future_ms > 0,
 * an event whose timestamp is more than max_future_ms ahead of the wall clock is either
 * rejected (bad_timestamp, detail "2h0m3s ahead of the wall clock, limit 1h") or, with
 * clamp_future, decoded with its timestamp set to now + max_future_ms; both are counted
 * (tl_decoder_stats). One such event would otherwise drag its partition's event time hours
 * ahead and make every honest event after it late. The per-event cost is one compare against
 * a cached lower bound of the wall clock (no syscall, no vDSO call): the clock is read only
 * for an event beyond that bound, that is a far-future event, or the first event after the
 * bound has aged by more than the limit (at most once per max_future of real time for a
 * healthy stream).
 *
 * Threading: a tl_decoder's configuration is immutable after setup and it is shared; the
 * far-future check updates a separately allocated block of relaxed atomics (the cached clock
 * and the counters), written only on the far-future path. The scratch buffer passed to
 * tl_decoder_decode belongs to the calling thread.
 */
#ifndef TL_DECODE_H
#define TL_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "decode_err.h"
#include "json_decode.h"

typedef struct tl_decoder tl_decoder;

/* Build from config: raw schema (built-in if NULL) and registry (id 1 = built-in unless the
 * registry says otherwise). Errors name the schema file and why. */
tl_decoder *tl_decoder_new(const tl_config *cfg, char *err, size_t errcap);
void tl_decoder_destroy(tl_decoder *d);

/* Decode one message into *ev: 0, or -1 with *err filled (ev is then unusable). */
int tl_decoder_decode(const tl_decoder *d, const void *msg, size_t len, tl_event *ev,
                      tl_json_scratch *scratch, tl_decode_err *err);

typedef struct tl_decoder_stats {
    uint64_t future_clamped;  /* events whose timestamp was clamped to now + max_future */
    uint64_t future_rejected; /* events rejected as too far ahead (they are dead letters too) */
} tl_decoder_stats;

/* Counters since tl_decoder_new(). Any thread. They count decodes: a message decoded twice
 * (the engine may decode a message it held back for event-time alignment again when it releases
 * it) counts twice if it was clamped both times. */
void tl_decoder_stats_get(const tl_decoder *d, tl_decoder_stats *out);

/* Replace the wall clock (epoch ms) the far-future check reads, for tests. Call before the
 * decoder is shared; NULL restores the real clock (CLOCK_REALTIME_COARSE). */
void tl_decoder_set_clock(tl_decoder *d, int64_t (*now_ms)(void));

#endif
