/* engine/json_decode.h - JSON trace events straight into a tl_event.
 *
 * Why not jansson: its generic tree measured 164k events/s on one core, six times below what
 * the Kafka client delivers. This decoder is a single forward pass specialised for the
 * trace-event object: it recognises the known top-level keys and writes them directly into
 * the tl_event, skips unknown keys (any JSON value, nested up to TL_JSON_MAX_DEPTH), and
 * allocates nothing. Strings without escapes are views into the message; strings with
 * escapes are unescaped into the caller's scratch buffer.
 *
 * Accepted shapes (see docs/RULES.md and schemas/trace_event.avsc for the field list):
 *  - timestamp: RFC 3339 string or a number of epoch milliseconds; required;
 *  - string fields: string or null (null = absent); a number given for a string field is
 *    rejected as bad_type;
 *  - numeric fields: number or null; integers and decimals;
 *  - flags: array of strings (at most TL_EVENT_MAX_FLAGS) or null;
 *  - attributes: object; string values are taken as is, numbers/true/false/null are
 *    stored as their literal text, nested objects/arrays as their raw JSON text; at most
 *    TL_EVENT_MAX_ATTRS.
 * Duplicate keys: the last one wins. Leading/trailing whitespace is allowed; anything else
 * after the closing brace is json_syntax.
 *
 * Threading: a tl_json_scratch belongs to one thread; decode calls are independent.
 */
#ifndef TL_JSON_DECODE_H
#define TL_JSON_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "decode_err.h"
#include "tripline/event.h"

#define TL_JSON_MAX_DEPTH 64

/* Caller-owned buffer for unescaped strings; reset by every decode call. Its size bounds
 * the total unescaped text of one message (a message can never need more than its own
 * length, so cap >= max message size is always enough). */
typedef struct tl_json_scratch {
    char *buf;
    size_t cap;
    size_t used;
} tl_json_scratch;

/* Decode one message. Returns 0 and fills *ev, or -1 and fills *err (ev is then partial
 * and must not be used). */
int tl_json_decode(const char *msg, size_t len, tl_event *ev, tl_json_scratch *scratch,
                   tl_decode_err *err);

#endif
