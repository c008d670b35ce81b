/* engine/json_encode.c - a tl_event as one compact JSON object (see json_encode.h).
 *
 * Used by the synthetic fleet, the tests and the benches, and (tl_json_put_string) by the
 * alert encoder, so it is written for speed without being clever: bounded appends into the
 * caller's buffer, no allocation.
 *
 * Invariants:
 *  - Field order is that of include/tripline/event.h: timestamp, the string fields, the
 *    numeric fields, flags, attributes. Absent fields are omitted; flags and attributes only
 *    when non-empty. A non-finite number cannot be written as JSON and is omitted too.
 *  - Numbers round-trip through tl_json_decode(): integral values below 2^53 are written as
 *    integers, others with the shortest of %.15g/%.16g/%.17g that reads back identically.
 *  - Attribute values are always written as JSON strings (the Avro schema's map of string);
 *    a decoded number attribute "42" therefore comes back as the same text "42".
 *  - On overflow nothing useful is promised about `out`, and 0 is returned.
 *
 * Threading: pure functions of their arguments.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_encode.h"
#include "timefmt.h"
#include "utf8.h"

/* Bytes that need escaping inside a JSON string: controls, '"' and '\\'. */
static int needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

/* The escape of one byte that needs_escape(): \" \\ or \u00XX at out[*o]; -1 if it does not fit. */
static int put_escape(char *out, size_t cap, size_t *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    if (c == '"' || c == '\\') {
        if (cap - *o < 2)
            return -1;
        out[(*o)++] = '\\';
        out[(*o)++] = (char)c;
        return 0;
    }
    if (cap - *o < 6)
        return -1;
    memcpy(out + *o, "\\u00", 4);
    out[*o + 4] = hex[c >> 4];
    out[*o + 5] = hex[c & 15];
    *o += 6;
    return 0;
}

int tl_json_put_string(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
    size_t o = *pos;
    if (o >= cap || cap - o < n + 2)
        return -1; /* even without escapes it cannot fit */
    out[o++] = '"';
    size_t i = 0;
    while (i < n) {
        /* Copy the run of plain bytes in one go. */
        size_t run = i;
        while (run < n && !needs_escape((unsigned char)s[run]))
            run++;
        if (run > i) {
            if (cap - o < run - i)
                return -1;
            memcpy(out + o, s + i, run - i);
            o += run - i;
            i = run;
            if (i == n)
                break;
        }
        if (put_escape(out, cap, &o, (unsigned char)s[i++]) != 0)
            return -1;
    }
    if (cap - o < 1)
        return -1;
    out[o++] = '"';
    *pos = o;
    return 0;
}

int tl_json_put_text(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = *pos;
    if (o >= cap || cap - o < n + 2)
        return -1; /* even without escapes it cannot fit */
    out[o++] = '"';
    size_t i = 0;
    while (i < n) {
        size_t run = i; /* plain ASCII, copied in one go */
        while (run < n && u[run] < 0x80 && !needs_escape(u[run]))
            run++;
        if (run > i) {
            if (cap - o < run - i)
                return -1;
            memcpy(out + o, s + i, run - i);
            o += run - i;
            i = run;
            if (i == n)
                break;
        }
        if (u[i] < 0x80) { /* '"', '\\' or a control byte */
            if (put_escape(out, cap, &o, u[i++]) != 0)
                return -1;
            continue;
        }
        size_t k = tl_utf8_len(u + i, n - i);
        const char *put = k ? s + i : "\\ufffd";
        size_t pn = k ? k : 6;
        if (cap - o < pn)
            return -1;
        memcpy(out + o, put, pn);
        o += pn;
        i += k ? k : 1;
    }
    if (cap - o < 1)
        return -1;
    out[o++] = '"';
    *pos = o;
    return 0;
}

static int put_raw(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (cap - *pos < n)
        return -1;
    memcpy(out + *pos, s, n);
    *pos += n;
    return 0;
}

/* Writes `v` so that strtod() of the text gives back exactly `v`; v must be finite. */
static size_t format_number(double v, char *buf, size_t cap)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        long long iv = (long long)v;
        return (size_t)snprintf(buf, cap, "%lld", iv);
    }
    for (int prec = 15; prec <= 17; prec++) {
        int len = snprintf(buf, cap, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v)
            return (size_t)len;
    }
    return 0; /* not reached */
}

/* Appends `"name":`; the caller puts the separating comma. */
static int put_key(char *out, size_t cap, size_t *pos, const char *name)
{
    size_t n = strlen(name);
    if (cap - *pos < n + 3)
        return -1;
    out[(*pos)++] = '"';
    memcpy(out + *pos, name, n);
    *pos += n;
    out[(*pos)++] = '"';
    out[(*pos)++] = ':';
    return 0;
}

size_t tl_json_encode_event(const tl_event *ev, char *out, size_t cap)
{
    size_t pos = 0;
    char tmp[40];
    if (!out || cap < 2)
        return 0;

    out[pos++] = '{';
    if (put_key(out, cap, &pos, "timestamp") < 0)
        return 0;
    size_t tn = tl_time_format_rfc3339(ev->ts_ms, tmp, sizeof tmp);
    if (cap - pos < tn + 2)
        return 0;
    out[pos++] = '"';
    memcpy(out + pos, tmp, tn);
    pos += tn;
    out[pos++] = '"';

    for (int f = 0; f < TL_S__COUNT; f++) {
        if (!(ev->str_present & (1u << f)))
            continue;
        if (put_raw(out, cap, &pos, ",", 1) < 0 || put_key(out, cap, &pos, tl_str_field_names[f]) < 0 ||
            tl_json_put_string(out, cap, &pos, ev->str[f].p, ev->str[f].n) < 0)
            return 0;
    }
    for (int f = 0; f < TL_N__COUNT; f++) {
        if (!(ev->num_present & (1u << f)) || !isfinite(ev->num[f]))
            continue;
        size_t nn = format_number(ev->num[f], tmp, sizeof tmp);
        if (put_raw(out, cap, &pos, ",", 1) < 0 || put_key(out, cap, &pos, tl_num_field_names[f]) < 0 ||
            put_raw(out, cap, &pos, tmp, nn) < 0)
            return 0;
    }
    if (ev->n_flags) {
        if (put_raw(out, cap, &pos, ",", 1) < 0 || put_key(out, cap, &pos, "flags") < 0 ||
            put_raw(out, cap, &pos, "[", 1) < 0)
            return 0;
        uint32_t nf = ev->n_flags < TL_EVENT_MAX_FLAGS ? ev->n_flags : TL_EVENT_MAX_FLAGS;
        for (uint32_t i = 0; i < nf; i++) {
            if ((i && put_raw(out, cap, &pos, ",", 1) < 0) ||
                tl_json_put_string(out, cap, &pos, ev->flags[i].p, ev->flags[i].n) < 0)
                return 0;
        }
        if (put_raw(out, cap, &pos, "]", 1) < 0)
            return 0;
    }
    if (ev->n_attrs) {
        if (put_raw(out, cap, &pos, ",", 1) < 0 || put_key(out, cap, &pos, "attributes") < 0 ||
            put_raw(out, cap, &pos, "{", 1) < 0)
            return 0;
        uint32_t na = ev->n_attrs < TL_EVENT_MAX_ATTRS ? ev->n_attrs : TL_EVENT_MAX_ATTRS;
        for (uint32_t i = 0; i < na; i++) {
            if ((i && put_raw(out, cap, &pos, ",", 1) < 0) ||
                tl_json_put_string(out, cap, &pos, ev->attr_key[i].p, ev->attr_key[i].n) < 0 ||
                put_raw(out, cap, &pos, ":", 1) < 0 ||
                tl_json_put_string(out, cap, &pos, ev->attr_val[i].p, ev->attr_val[i].n) < 0)
                return 0;
        }
        if (put_raw(out, cap, &pos, "}", 1) < 0)
            return 0;
    }
    if (put_raw(out, cap, &pos, "}", 1) < 0)
        return 0;
    return pos;
}
