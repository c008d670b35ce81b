/* engine/avro_decode.h - Avro trace events, decoded by a program compiled for the schema.
 *
 * Why compiled: avro-c's generic avro_value_read() costs about 0.7 us per record here, as
 * much as librdkafka spends on the whole message. Instead a writer schema is compiled once
 * (tl_avro_prog_new) into a flat list of steps, one per field: "read a zig-zag long into
 * ts_ms", "read a [null,string] union into str[TL_S_TOOL]", "skip a nested record", ... and
 * decoding walks the message bytes once with no allocation. Strings become views into the
 * message.
 *
 * Schema evolution: fields are matched to tl_event fields BY NAME, in whatever order the
 * writer schema has them. Unknown fields are skipped (any Avro type, including nested
 * records, arrays, maps, enums, fixed). Missing fields are absent. Unions of null with one
 * other type are accepted in either order. Accepted types per event field:
 *  - timestamp: long/int (logicalType timestamp-millis, or timestamp-micros which is
 *    converted), or string (RFC 3339);
 *  - string fields: string, or enum (the symbol becomes the value);
 *  - numeric fields: int, long, float, double;
 *  - flags: array<string>; attributes: map<string>.
 * A field whose type is not acceptable for its name makes compilation fail with a message.
 *
 * avro-c is used only to parse schema JSON here (and as the oracle in tests); it is never
 * called per message. Only this module and avro_encode.c include <avro.h>.
 *
 * Threading: a compiled program is immutable and may be shared by all threads.
 */
#ifndef TL_AVRO_DECODE_H
#define TL_AVRO_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "decode_err.h"
#include "tripline/event.h"

typedef struct tl_avro_prog tl_avro_prog;

/* Compile a writer schema given as Avro schema JSON. Returns NULL and writes a message to
 * errbuf on error (invalid JSON, not a record, wrong type for a known field, no timestamp
 * field). The caller owns the result. */
tl_avro_prog *tl_avro_prog_new(const char *schema_json, size_t len, char *errbuf, size_t errcap);
void tl_avro_prog_destroy(tl_avro_prog *p); /* NULL is a no-op */

/* The built-in schema (schemas/trace_event.avsc, embedded at build time as a string). */
extern const char tl_trace_event_schema_json[];

/* Decode one Avro binary body (no framing). Returns 0, or -1 with *err filled. Trailing
 * bytes after the record are an error (trailing). */
int tl_avro_decode(const tl_avro_prog *p, const uint8_t *buf, size_t len, tl_event *ev,
                   tl_decode_err *err);

#endif
