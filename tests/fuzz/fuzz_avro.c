/* tests/fuzz/fuzz_avro.c - libFuzzer target for the compiled Avro decoder.
 *
 * Each input is decoded with two programs: the built-in trace_event schema, and a writer
 * schema with unknown fields of every Avro type (nested and recursive records, enum, fixed,
 * bytes, arrays, maps, a 3-branch union, an enum for a known string field, micros) so the
 * generic skip paths are reached too. ASan/UBSan catch out-of-bounds reads and overflow;
 * the checks below catch wrong answers:
 *  - a failure has a real error code and an offset inside the message;
 *  - every decoded string view lies inside the message (or, for an enum, is non-NULL);
 *  - round trip: an event decoded with the built-in schema, encoded again with
 *    tl_avro_encode_event, decodes to the same event, and re-encodes to the same bytes.
 * Seeds: tests/fuzz/corpus/avro/ (valid built-in records and a few malformed ones).
 *
 * Build: cmake -DTL_FUZZ=ON -DCMAKE_C_COMPILER=clang ...; run: fuzz_avro tests/fuzz/corpus/avro
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "avro_decode.h"
#include "avro_encode.h"

static const char rich_schema[] =
    "{\"type\":\"record\",\"name\":\"Rich\",\"fields\":["
    "{\"name\":\"timestamp\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}]},"
    "{\"name\":\"x_rec\",\"type\":{\"type\":\"record\",\"name\":\"Inner\",\"fields\":["
    "  {\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"boolean\"},"
    "  {\"name\":\"c\",\"type\":\"null\"},{\"name\":\"d\",\"type\":\"float\"}]}},"
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":[\"a\",\"b\",\"c\"]}},"
    "{\"name\":\"x_fixed\",\"type\":{\"type\":\"fixed\",\"name\":\"F4\",\"size\":4}},"
    "{\"name\":\"x_bytes\",\"type\":\"bytes\"},"
    "{\"name\":\"x_arr\",\"type\":{\"type\":\"array\",\"items\":[\"null\",\"Inner\",\"string\"]}},"
    "{\"name\":\"x_map\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":\"double\"}}},"
    "{\"name\":\"x_nulls\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
    "{\"name\":\"x_list\",\"type\":{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
    "  {\"name\":\"v\",\"type\":\"long\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}},"
    "{\"name\":\"latency_ms\",\"type\":[\"float\",\"null\"]},"
    "{\"name\":\"input_tokens\",\"type\":\"int\"},"
    "{\"name\":\"tool\",\"type\":[\"string\",\"null\"]},"
    "{\"name\":\"flags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"}}"
    "]}";

static tl_avro_prog *builtin, *rich;
static uint8_t *enc1, *enc2;
#define ENC_CAP (1u << 20)

static void check_views(const tl_event *ev, const uint8_t *data, size_t size, int enum_ok)
{
    const char *lo = (const char *)data, *hi = (const char *)data + size;
    for (int f = 0; f < TL_S__COUNT; f++) {
        if (!(ev->str_present & (1u << f)))
            continue;
        tl_str s = ev->str[f];
        int inside = s.n == 0 || (s.p >= lo && s.p + s.n <= hi);
        if (!inside && !(enum_ok && s.p))
            abort();
    }
    if (ev->n_flags > TL_EVENT_MAX_FLAGS || ev->n_attrs > TL_EVENT_MAX_ATTRS)
        abort();
    for (uint32_t i = 0; i < ev->n_flags; i++)
        if (ev->flags[i].n && (ev->flags[i].p < lo || ev->flags[i].p + ev->flags[i].n > hi))
            abort();
    for (uint32_t i = 0; i < ev->n_attrs; i++) {
        tl_str k = ev->attr_key[i], v = ev->attr_val[i];
        if ((k.n && (k.p < lo || k.p + k.n > hi)) || (v.n && (v.p < lo || v.p + v.n > hi)))
            abort();
    }
}

static void check_failure(int rc, const tl_decode_err *err, size_t size)
{
    if (rc == 0)
        return;
    if (err->code == TL_DECODE_OK || err->code >= TL_DECODE__COUNT || err->offset > size)
        abort();
}

static int str_same(tl_str a, tl_str b) { return tl_str_eq(a, b); }

static int num_same(double a, double b)
{
    /* Token counts go through int64 in the encoder, so compare what the wire can hold. */
    return memcmp(&a, &b, sizeof a) == 0 || (a != a && b != b);
}

static void check_roundtrip(const tl_event *ev)
{
    static tl_event again;
    tl_decode_err err;
    size_t n = tl_avro_encode_event(ev, enc1, ENC_CAP);
    if (n == 0)
        abort(); /* a decoded event always fits: it came from a message of at most ENC_CAP */
    if (tl_avro_decode(builtin, enc1, n, &again, &err) != 0)
        abort();
    if (again.ts_ms != ev->ts_ms || again.str_present != ev->str_present ||
        again.num_present != ev->num_present || again.n_flags != ev->n_flags ||
        again.n_attrs != ev->n_attrs)
        abort();
    for (int f = 0; f < TL_S__COUNT; f++)
        if ((ev->str_present & (1u << f)) && !str_same(again.str[f], ev->str[f]))
            abort();
    for (int f = 0; f < TL_N__COUNT; f++)
        if ((ev->num_present & (1u << f)) && !num_same(again.num[f], ev->num[f]))
            abort();
    for (uint32_t i = 0; i < ev->n_flags; i++)
        if (!str_same(again.flags[i], ev->flags[i]))
            abort();
    for (uint32_t i = 0; i < ev->n_attrs; i++)
        if (!str_same(again.attr_key[i], ev->attr_key[i]) ||
            !str_same(again.attr_val[i], ev->attr_val[i]))
            abort();
    size_t m = tl_avro_encode_event(&again, enc2, ENC_CAP);
    if (m != n || memcmp(enc1, enc2, n) != 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char errbuf[256];
    builtin = tl_avro_prog_new(tl_trace_event_schema_json, strlen(tl_trace_event_schema_json),
                               errbuf, sizeof errbuf);
    rich = tl_avro_prog_new(rich_schema, strlen(rich_schema), errbuf, sizeof errbuf);
    enc1 = malloc(ENC_CAP);
    enc2 = malloc(ENC_CAP);
    if (!builtin || !rich || !enc1 || !enc2)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tl_event ev;
    tl_decode_err err;
    if (size > ENC_CAP / 2)
        return 0;
    /* A private copy, so ASan flags any read past the message. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);

    int rc = tl_avro_decode(builtin, copy, size, &ev, &err);
    check_failure(rc, &err, size);
    if (rc == 0) {
        check_views(&ev, copy, size, 0);
        check_roundtrip(&ev);
    }

    rc = tl_avro_decode(rich, copy, size, &ev, &err);
    check_failure(rc, &err, size);
    if (rc == 0)
        check_views(&ev, copy, size, 1);

    free(copy);
    return 0;
}
