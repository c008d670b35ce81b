/* engine/json_encode.h - write a tl_event as a JSON trace event (the synthetic fleet, tests,
 * benches). Output is one compact object with the field names of include/tripline/event.h,
 * timestamp as RFC 3339 with milliseconds, absent fields omitted, strings escaped per
 * RFC 8259 (control characters as \u00XX). Round-trips through tl_json_decode(). */
#ifndef TL_JSON_ENCODE_H
#define TL_JSON_ENCODE_H

#include <stddef.h>

#include "tripline/event.h"

/* Returns the number of bytes written (not NUL-terminated), or 0 if `cap` is too small. */
size_t tl_json_encode_event(const tl_event *ev, char *out, size_t cap);

/* Append `s` as a JSON string literal (with quotes) at out[*pos]; returns 0, or -1 if it does
 * not fit. Shared with the alert encoder. */
int tl_json_put_string(char *out, size_t cap, size_t *pos, const char *s, size_t n);

/* As tl_json_put_string, but the output is valid UTF-8 whatever bytes `s` holds: RFC 8259
 * requires it, and strict parsers (jansson, Python's json on bytes, Go) reject the whole
 * document otherwise, so one event with a Latin-1 tool name would make its alert unreadable.
 * Each byte that does not start a well-formed sequence (utf8.h) is written as \ufffd. For
 * text that came from events: the alert encoder writes every string with it. */
int tl_json_put_text(char *out, size_t cap, size_t *pos, const char *s, size_t n);

#endif
