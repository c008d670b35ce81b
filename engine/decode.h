/* engine/decode.h - pick the decoder for a message: JSON, framed Avro, or raw Avro.
 *
 * Detection (input format `auto`): a first byte of 0x00 means the Confluent framing (then a
 * 4-byte big-endian schema id selects a compiled program from the registry); a first
 * non-whitespace byte of '{' means JSON; anything else is raw Avro in the configured schema.
 * This is unambiguous for the built-in schema because its first field is the timestamp: a
 * valid event time never zig-zag encodes to a first byte of 0x00, '{' or whitespace.
 * Format `json` only accepts JSON; `avro` accepts framed and raw Avro.
 *
 * Threading: a tl_decoder is immutable after setup and shared; the scratch buffer passed to
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

int tl_decoder_decode(const tl_decoder *d, const void *msg, size_t len, tl_event *ev,
                      tl_json_scratch *scratch, tl_decode_err *err);

#endif
