/* engine/decode_err.h - why a message could not be decoded, and where.
 *
 * One X-macro table makes the enum, the short machine name (used in the dead-letter header
 * `tripline.error.code`) and the human text, so the three cannot drift (libuv's UV_ERRNO_MAP
 * idea). A tl_decode_err carries the byte offset into the message where decoding stopped and
 * an optional detail, e.g. "field 'latency_ms': expected a number".
 *
 * Filling an error is off the hot path (only malformed messages reach it).
 */
#ifndef TL_DECODE_ERR_H
#define TL_DECODE_ERR_H

#include <stddef.h>
#include <stdint.h>

#define TL_DECODE_ERRORS(X)                                                                    \
    X(OK, ok, "ok")                                                                            \
    X(EMPTY, empty, "empty message")                                                           \
    X(TOO_LARGE, too_large, "message larger than the configured limit")                        \
    X(UNKNOWN_FORMAT, unknown_format, "neither JSON nor Avro")                                 \
    X(BAD_MAGIC, bad_magic, "bad magic byte in Confluent framing")                             \
    X(SHORT_FRAME, short_frame, "shorter than the 5-byte Confluent header")                    \
    X(UNKNOWN_SCHEMA, unknown_schema, "unknown schema id")                                     \
    X(TRUNCATED, truncated, "truncated record")                                                \
    X(BAD_VARINT, bad_varint, "malformed variable-length integer")                             \
    X(BAD_LENGTH, bad_length, "negative or oversized length")                                  \
    X(BAD_UNION, bad_union, "union branch index out of range")                                 \
    X(TRAILING, trailing, "trailing bytes after the record")                                   \
    X(JSON_SYNTAX, json_syntax, "JSON syntax error")                                           \
    X(TOO_DEEP, too_deep, "nesting deeper than the limit")                                     \
    X(BAD_TYPE, bad_type, "field has the wrong type")                                          \
    X(NOT_OBJECT, not_object, "top level is not an object")                                    \
    X(MISSING_TIMESTAMP, missing_timestamp, "missing timestamp")                               \
    X(BAD_TIMESTAMP, bad_timestamp, "invalid timestamp")                                       \
    X(TOO_MANY_FLAGS, too_many_flags, "more flags than the limit")                             \
    X(TOO_MANY_ATTRS, too_many_attrs, "more attributes than the limit")                        \
    X(SCRATCH_FULL, scratch_full, "unescaped strings exceed the decoder's scratch space")

typedef enum tl_decode_code {
#define TL_X_(E, name, text) TL_DECODE_##E,
    TL_DECODE_ERRORS(TL_X_)
#undef TL_X_
    TL_DECODE__COUNT
} tl_decode_code;

typedef struct tl_decode_err {
    tl_decode_code code;
    uint32_t offset;  /* byte offset in the message where decoding stopped */
    char detail[96];  /* optional extra context, NUL-terminated, may be empty */
} tl_decode_err;

const char *tl_decode_code_name(tl_decode_code c); /* "bad_union" */
const char *tl_decode_code_text(tl_decode_code c); /* "union branch index out of range" */

/* Record an error; returns -1 so decoders can `return tl_decode_fail(...)`. `fmt` may be
 * NULL. */
int tl_decode_fail(tl_decode_err *err, tl_decode_code code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "bad_union at byte 17: field 'tool'" into buf; returns buf. */
const char *tl_decode_err_format(const tl_decode_err *err, char *buf, size_t cap);

#endif
