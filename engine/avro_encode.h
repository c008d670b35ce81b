/* engine/avro_encode.h - write a tl_event as Avro binary in the built-in trace_event schema
 * (schemas/trace_event.avsc), for the synthetic fleet, tests and benches. Hand-written for
 * that one schema (it is the producer side of tl_avro_decode's fast path).
 * Optionally with Confluent framing: byte 0 = 0x00, bytes 1-4 = schema id big-endian. */
#ifndef TL_AVRO_ENCODE_H
#define TL_AVRO_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "tripline/event.h"

/* Returns bytes written, or 0 if `cap` is too small. */
size_t tl_avro_encode_event(const tl_event *ev, uint8_t *out, size_t cap);

/* Same, prefixed with the 5-byte Confluent header for `schema_id`. */
size_t tl_avro_encode_event_confluent(const tl_event *ev, uint32_t schema_id, uint8_t *out,
                                      size_t cap);

#endif
