/* tests/unit/test_avro_decode.c - the compiled Avro decoder and the event encoder, checked
 * against avro-c as the oracle: records written by avro-c's generic value API (for the
 * built-in schema and for an evolved writer schema with reordered, retyped and unknown
 * fields) must decode to exactly what was written, and the encoder's bytes must read back
 * through avro-c. Malformed input is rejected with the right code, never read out of bounds
 * (run under ASan in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "avro_decode.h"
#include "avro_encode.h"
#include "tl_test.h"

#define N_RANDOM 2500

/* A writer schema that differs from the built-in one in every way the decoder must handle:
 * other field order, unknown fields of every kind (nested and recursive records, enum,
 * fixed, bytes, arrays, maps, a 3-branch union, named-type references), unions as
 * [string, null], non-union strings, an enum for a string field, ints for longs, floats
 * for doubles, a long for a double, timestamp-micros, and missing fields. */
static const char evolved_schema[] =
    "{\"type\":\"record\",\"name\":\"Evolved\",\"namespace\":\"test.v2\",\"fields\":["
    "{\"name\":\"extra_rec\",\"type\":{\"type\":\"record\",\"name\":\"Inner\",\"fields\":["
    "  {\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"string\"},"
    "  {\"name\":\"c\",\"type\":{\"type\":\"array\",\"items\":\"double\"}},"
    "  {\"name\":\"d\",\"type\":\"boolean\"},{\"name\":\"e\",\"type\":\"null\"}]}},"
    "{\"name\":\"status\",\"type\":[\"string\",\"null\"]},"
    "{\"name\":\"latency_ms\",\"type\":[\"float\",\"null\"]},"
    "{\"name\":\"extra_enum\",\"type\":{\"type\":\"enum\",\"name\":\"Color\","
    "  \"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]}},"
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":"
    "  [\"request\",\"llm_call\",\"tool_call\",\"retrieval\",\"guardrail\",\"feedback\"]}},"
    "{\"name\":\"trace_id\",\"type\":\"string\"},"
    "{\"name\":\"extra_fixed\",\"type\":{\"type\":\"fixed\",\"name\":\"Hash\",\"size\":16}},"
    "{\"name\":\"input_tokens\",\"type\":[\"null\",\"int\"]},"
    "{\"name\":\"extra_bytes\",\"type\":\"bytes\"},"
    "{\"name\":\"timestamp\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"},"
    "  \"doc\":\"micros\"},"
    "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"extra_longs\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
    "{\"name\":\"output_tokens\",\"type\":\"int\"},"
    "{\"name\":\"extra_map\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
    "{\"name\":\"span_id\",\"type\":[\"string\",\"null\"]},"
    "{\"name\":\"extra_union\",\"type\":[\"null\",\"string\",{\"type\":\"array\",\"items\":\"Hash\"}]},"
    "{\"name\":\"cost_usd\",\"type\":[\"null\",\"float\"]},"
    "{\"name\":\"flags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"service\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"score\",\"type\":[\"null\",\"long\"]},"
    "{\"name\":\"extra_float\",\"type\":\"float\"},"
    "{\"name\":\"extra_rec2\",\"type\":[\"null\",\"Inner\"]},"
    "{\"name\":\"extra_list\",\"type\":{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
    "  {\"name\":\"v\",\"type\":\"long\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}},"
    "{\"name\":\"tool\",\"type\":[\"string\",\"null\"]},"
    "{\"name\":\"model\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"error_type\",\"type\":[\"string\",\"null\"]},"
    "{\"name\":\"extra_bool\",\"type\":\"boolean\"},"
    "{\"name\":\"extra_last\",\"type\":\"long\"}"
    "]}";

/* ---- helpers ---------------------------------------------------------------------------- */

/* Backing store for the expected event's strings. */
struct pool {
    char buf[128 * 1024];
    size_t used;
};

static const char *pool_put(struct pool *pl, const char *s, size_t n)
{
    assert_true(pl->used + n + 1 <= sizeof pl->buf);
    char *d = pl->buf + pl->used;
    memcpy(d, s, n);
    d[n] = '\0';
    pl->used += n + 1;
    return d;
}

static uint64_t rnd(tl_test_rng *r, uint64_t n) { return n ? tl_test_rand(r) % n : 0; }

/* Random NUL-free text of varied length (some long enough for 2- and 3-byte varints). */
static size_t rand_text(tl_test_rng *r, char *out, size_t cap)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789_-.:/ ";
    uint64_t k = rnd(r, 100);
    size_t n = k < 70 ? rnd(r, 17) : k < 95 ? 16 + rnd(r, 64) : 64 + rnd(r, 300);
    if (n >= cap)
        n = cap - 1;
    int binary = rnd(r, 10) == 0;
    for (size_t i = 0; i < n; i++)
        out[i] = binary ? (char)(1 + rnd(r, 255)) : alpha[rnd(r, sizeof alpha - 1)];
    out[n] = '\0';
    return n;
}

static avro_schema_t parse_schema(const char *json)
{
    avro_schema_t s = NULL;
    int rc = avro_schema_from_json_length(json, strlen(json), &s);
    if (rc)
        fprintf(stderr, "avro-c: %s\n", avro_strerror());
    assert_int_equal(rc, 0);
    return s;
}

static tl_avro_prog *compile_ok(const char *json)
{
    char errbuf[256];
    tl_avro_prog *p = tl_avro_prog_new(json, strlen(json), errbuf, sizeof errbuf);
    if (!p)
        fprintf(stderr, "compile: %s\n", errbuf);
    assert_non_null(p);
    return p;
}

/* Fill a value of any type with random content (unknown fields). */
static void fill_random(avro_value_t *v, tl_test_rng *r, int depth)
{
    avro_schema_t s = avro_value_get_schema(v);
    avro_value_t child;
    char text[512];
    size_t n;
    switch (avro_value_get_type(v)) {
    case AVRO_NULL: assert_int_equal(avro_value_set_null(v), 0); break;
    case AVRO_BOOLEAN: assert_int_equal(avro_value_set_boolean(v, (int)rnd(r, 2)), 0); break;
    case AVRO_INT32: assert_int_equal(avro_value_set_int(v, (int32_t)tl_test_rand(r)), 0); break;
    case AVRO_INT64: assert_int_equal(avro_value_set_long(v, (int64_t)tl_test_rand(r)), 0); break;
    case AVRO_FLOAT: assert_int_equal(avro_value_set_float(v, (float)tl_test_rand01(r)), 0); break;
    case AVRO_DOUBLE: assert_int_equal(avro_value_set_double(v, tl_test_rand01(r) * 1e9), 0); break;
    case AVRO_STRING:
        rand_text(r, text, sizeof text);
        assert_int_equal(avro_value_set_string(v, text), 0);
        break;
    case AVRO_BYTES:
        n = rnd(r, 100);
        for (size_t i = 0; i < n; i++)
            text[i] = (char)rnd(r, 256);
        assert_int_equal(avro_value_set_bytes(v, text, n), 0);
        break;
    case AVRO_FIXED:
        n = (size_t)avro_schema_fixed_size(s);
        for (size_t i = 0; i < n; i++)
            text[i] = (char)rnd(r, 256);
        assert_int_equal(avro_value_set_fixed(v, text, n), 0);
        break;
    case AVRO_ENUM:
        assert_int_equal(avro_value_set_enum(v, (int)rnd(r, (uint64_t)avro_schema_enum_number_of_symbols(s))), 0);
        break;
    case AVRO_RECORD: {
        size_t nf = 0;
        avro_value_get_size(v, &nf);
        for (size_t i = 0; i < nf; i++) {
            assert_int_equal(avro_value_get_by_index(v, i, &child, NULL), 0);
            fill_random(&child, r, depth + 1);
        }
        break;
    }
    case AVRO_ARRAY:
        n = depth > 4 ? 0 : rnd(r, 6);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(avro_value_append(v, &child, NULL), 0);
            fill_random(&child, r, depth + 1);
        }
        break;
    case AVRO_MAP:
        n = depth > 4 ? 0 : rnd(r, 6);
        for (size_t i = 0; i < n; i++) {
            snprintf(text, sizeof text, "key%zu_%llu", i, (unsigned long long)rnd(r, 1000));
            assert_int_equal(avro_value_add(v, text, &child, NULL, NULL), 0);
            fill_random(&child, r, depth + 1);
        }
        break;
    case AVRO_UNION: {
        size_t nb = avro_schema_union_size(s);
        int b = (int)rnd(r, nb);
        /* Keep recursive types finite: deep down, prefer the null branch when there is one. */
        if (depth > 6 && is_avro_null(avro_schema_union_branch(s, 0)))
            b = 0;
        assert_int_equal(avro_value_set_branch(v, b, &child), 0);
        fill_random(&child, r, depth + 1);
        break;
    }
    default:
        fail_msg("unexpected type");
    }
}

/* Pick the value to write for a known field: the non-null branch of its union (or the null
 * branch, returning 0, about one time in five when the union has one). */
static int known_target(avro_value_t *fv, avro_value_t *target, tl_test_rng *r)
{
    if (avro_value_get_type(fv) != AVRO_UNION) {
        *target = *fv;
        return 1;
    }
    avro_schema_t s = avro_value_get_schema(fv);
    int null_br = -1, val_br = -1;
    for (size_t i = 0; i < avro_schema_union_size(s); i++) {
        if (is_avro_null(avro_schema_union_branch(s, (int)i)))
            null_br = (int)i;
        else
            val_br = (int)i;
    }
    if (null_br >= 0 && (val_br < 0 || rnd(r, 5) == 0)) {
        assert_int_equal(avro_value_set_branch(fv, null_br, target), 0);
        assert_int_equal(avro_value_set_null(target), 0);
        return 0;
    }
    assert_int_equal(avro_value_set_branch(fv, val_br, target), 0);
    return 1;
}

/* The non-null branch of a union (or the value itself). */
static void value_branch(avro_value_t *fv, avro_value_t *target)
{
    if (avro_value_get_type(fv) != AVRO_UNION) {
        *target = *fv;
        return;
    }
    avro_schema_t s = avro_value_get_schema(fv);
    int b = is_avro_null(avro_schema_union_branch(s, 0)) ? 1 : 0;
    assert_int_equal(avro_value_set_branch(fv, b, target), 0);
}

static int64_t rand_long(tl_test_rng *r)
{
    uint64_t k = rnd(r, 10);
    if (k < 5)
        return (int64_t)rnd(r, 100000);
    if (k < 9)
        return (int64_t)rnd(r, 1ull << 53) - (int64_t)(1ull << 52);
    return (int64_t)tl_test_rand(r);
}

/* Write one random record of `schema` with avro-c into out; fill *exp with what a correct
 * decoder must produce. ts_div: the timestamp's unit in ms (1000 for micros). */
static size_t write_random(avro_value_t *rec, avro_schema_t schema, int64_t ts_div,
                           tl_test_rng *r, tl_event *exp, struct pool *pl, avro_writer_t w,
                           char *out, size_t cap)
{
    char text[512];
    avro_value_t fv, t;

    pl->used = 0;
    tl_event_reset(exp);
    assert_int_equal(avro_value_reset(rec), 0);
    size_t nf = avro_schema_record_size(schema);
    for (size_t i = 0; i < nf; i++) {
        const char *name = avro_schema_record_field_name(schema, (int)i);
        assert_int_equal(avro_value_get_by_index(rec, i, &fv, NULL), 0);
        int si = tl_str_field_lookup(name, strlen(name));
        int ni = tl_num_field_lookup(name, strlen(name));
        if (strcmp(name, "timestamp") == 0) {
            value_branch(&fv, &t); /* never null: every record here is valid */
            exp->ts_ms = 1500000000000 + (int64_t)rnd(r, 200000000000ull);
            int64_t wire = exp->ts_ms * ts_div + (int64_t)rnd(r, (uint64_t)ts_div);
            assert_int_equal(avro_value_set_long(&t, wire), 0);
        } else if (si >= 0 || ni >= 0 || strcmp(name, "flags") == 0 ||
                   strcmp(name, "attributes") == 0) {
            if (!known_target(&fv, &t, r))
                continue;
            avro_schema_t ts = avro_value_get_schema(&t);
            switch (avro_value_get_type(&t)) {
            case AVRO_STRING: {
                size_t n = rand_text(r, text, sizeof text);
                assert_int_equal(avro_value_set_string(&t, text), 0);
                tl_event_set_str(exp, si, pool_put(pl, text, n), (uint32_t)n);
                break;
            }
            case AVRO_ENUM: {
                int k = (int)rnd(r, (uint64_t)avro_schema_enum_number_of_symbols(ts));
                assert_int_equal(avro_value_set_enum(&t, k), 0);
                const char *sym = avro_schema_enum_get(ts, k);
                tl_event_set_str(exp, si, pool_put(pl, sym, strlen(sym)), (uint32_t)strlen(sym));
                break;
            }
            case AVRO_INT32: {
                int32_t v = (int32_t)tl_test_rand(r);
                if (rnd(r, 2))
                    v = (int32_t)rnd(r, 100000);
                assert_int_equal(avro_value_set_int(&t, v), 0);
                tl_event_set_num(exp, ni, (double)v);
                break;
            }
            case AVRO_INT64: {
                int64_t v = rand_long(r);
                assert_int_equal(avro_value_set_long(&t, v), 0);
                tl_event_set_num(exp, ni, (double)v);
                break;
            }
            case AVRO_FLOAT: {
                float v = (float)((tl_test_rand01(r) - 0.1) * 30000.0);
                assert_int_equal(avro_value_set_float(&t, v), 0);
                tl_event_set_num(exp, ni, (double)v);
                break;
            }
            case AVRO_DOUBLE: {
                double v = (tl_test_rand01(r) - 0.1) * 30000.0;
                if (rnd(r, 10) == 0)
                    v = tl_test_rand01(r) * 1e-300;
                assert_int_equal(avro_value_set_double(&t, v), 0);
                tl_event_set_num(exp, ni, v);
                break;
            }
            case AVRO_ARRAY: { /* flags */
                uint32_t n = rnd(r, 20) == 0 ? TL_EVENT_MAX_FLAGS : (uint32_t)rnd(r, 5);
                for (uint32_t k = 0; k < n; k++) {
                    avro_value_t item;
                    size_t len = rand_text(r, text, sizeof text);
                    assert_int_equal(avro_value_append(&t, &item, NULL), 0);
                    assert_int_equal(avro_value_set_string(&item, text), 0);
                    exp->flags[k] = tl_str_make(pool_put(pl, text, len), len);
                }
                exp->n_flags = n;
                break;
            }
            case AVRO_MAP: { /* attributes; keys made unique by their index */
                uint32_t n = rnd(r, 20) == 0 ? TL_EVENT_MAX_ATTRS : (uint32_t)rnd(r, 4);
                for (uint32_t k = 0; k < n; k++) {
                    avro_value_t item;
                    char key[600];
                    rand_text(r, text, 64);
                    int kl = snprintf(key, sizeof key, "%u#%s", k, text);
                    size_t len = rand_text(r, text, sizeof text);
                    int is_new = 0;
                    assert_int_equal(avro_value_add(&t, key, &item, NULL, &is_new), 0);
                    assert_true(is_new);
                    assert_int_equal(avro_value_set_string(&item, text), 0);
                    exp->attr_key[k] = tl_str_make(pool_put(pl, key, (size_t)kl), (size_t)kl);
                    exp->attr_val[k] = tl_str_make(pool_put(pl, text, len), len);
                }
                exp->n_attrs = n;
                break;
            }
            default:
                fail_msg("field %s: unexpected type in test schema", name);
            }
        } else {
            fill_random(&fv, r, 0);
        }
    }
    avro_writer_memory_set_dest(w, out, (int64_t)cap);
    assert_int_equal(avro_value_write(w, rec), 0);
    return (size_t)avro_writer_tell(w);
}

static void assert_str_view(tl_str got, tl_str exp)
{
    assert_int_equal(got.n, exp.n);
    if (exp.n)
        assert_memory_equal(got.p, exp.p, exp.n);
}

static void assert_events_equal(const tl_event *got, const tl_event *exp)
{
    assert_int_equal(got->ts_ms, exp->ts_ms);
    assert_int_equal(got->str_present, exp->str_present);
    assert_int_equal(got->num_present, exp->num_present);
    for (int f = 0; f < TL_S__COUNT; f++)
        if (exp->str_present & (1u << f))
            assert_str_view(got->str[f], exp->str[f]);
    for (int f = 0; f < TL_N__COUNT; f++)
        if (exp->num_present & (1u << f))
            assert_memory_equal(&got->num[f], &exp->num[f], sizeof(double));
    assert_int_equal(got->n_flags, exp->n_flags);
    for (uint32_t i = 0; i < exp->n_flags; i++)
        assert_str_view(got->flags[i], exp->flags[i]);
    assert_int_equal(got->n_attrs, exp->n_attrs);
    for (uint32_t i = 0; i < exp->n_attrs; i++) {
        assert_str_view(got->attr_key[i], exp->attr_key[i]);
        assert_str_view(got->attr_val[i], exp->attr_val[i]);
    }
}

/* Byte builder for hand-made (mostly malformed) records. */
struct bb {
    uint8_t b[1 << 16];
    size_t n;
};

static void bb_raw(struct bb *bb, const void *p, size_t n)
{
    assert_true(bb->n + n <= sizeof bb->b);
    memcpy(bb->b + bb->n, p, n);
    bb->n += n;
}

static void bb_long(struct bb *bb, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (v < 0 ? ~0ull : 0);
    do {
        uint8_t c = (uint8_t)(u & 0x7f);
        u >>= 7;
        if (u)
            c |= 0x80;
        bb_raw(bb, &c, 1);
    } while (u);
}

static void bb_str(struct bb *bb, const char *s)
{
    bb_long(bb, (int64_t)strlen(s));
    bb_raw(bb, s, strlen(s));
}

/* The built-in schema up to (not including) flags: a timestamp and 17 null branches. */
static void bb_builtin_head(struct bb *bb, int64_t ts)
{
    bb_long(bb, ts);
    for (int i = 0; i < TL_S__COUNT + TL_N__COUNT; i++)
        bb_long(bb, 0);
}

static int decode_code(const tl_avro_prog *p, const uint8_t *b, size_t n, tl_event *ev,
                       tl_decode_err *err)
{
    memset(err, 0, sizeof *err);
    if (tl_avro_decode(p, b, n, ev, err) == 0)
        return TL_DECODE_OK;
    assert_true(err->code != TL_DECODE_OK);
    return (int)err->code;
}

/* ---- random records written by avro-c -------------------------------------------------- */

static void roundtrip_schema(const char *json, int64_t ts_div, uint64_t seed)
{
    static char buf[64 * 1024];
    static struct pool pl;
    static tl_event exp, got;
    tl_test_rng r = {seed};
    avro_schema_t schema = parse_schema(json);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t rec;
    assert_int_equal(avro_generic_value_new(iface, &rec), 0);
    avro_writer_t w = avro_writer_memory(buf, sizeof buf);
    tl_avro_prog *p = compile_ok(json);
    tl_decode_err err;

    for (int i = 0; i < N_RANDOM; i++) {
        size_t n = write_random(&rec, schema, ts_div, &r, &exp, &pl, w, buf, sizeof buf);
        assert_true(n > 0);
        int rc = tl_avro_decode(p, (const uint8_t *)buf, n, &got, &err);
        if (rc) {
            char msg[200];
            fail_msg("record %d: %s", i, tl_decode_err_format(&err, msg, sizeof msg));
        }
        assert_events_equal(&got, &exp);
    }

    tl_avro_prog_destroy(p);
    avro_writer_free(w);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static void test_avro_decode_builtin_random_matches_avro_c(void **state)
{
    (void)state;
    roundtrip_schema(tl_trace_event_schema_json, 1, 0x1234567ull);
}

static void test_avro_decode_evolved_random_matches_avro_c(void **state)
{
    (void)state;
    roundtrip_schema(evolved_schema, 1000, 0xabcdefull);
}

/* ---- the encoder ---------------------------------------------------------------------- */

/* A random event in the built-in schema's value space (token counts are integers). */
static void random_event(tl_test_rng *r, tl_event *ev, struct pool *pl)
{
    char text[512];
    pl->used = 0;
    tl_event_reset(ev);
    ev->ts_ms = (int64_t)rnd(r, 1ull << 42) - (rnd(r, 20) == 0 ? (int64_t)(1ull << 41) : 0);
    for (int f = 0; f < TL_S__COUNT; f++) {
        if (rnd(r, 4) == 0)
            continue;
        size_t n = rand_text(r, text, sizeof text);
        tl_event_set_str(ev, f, pool_put(pl, text, n), (uint32_t)n);
    }
    for (int f = 0; f < TL_N__COUNT; f++) {
        if (rnd(r, 4) == 0)
            continue;
        if (f == TL_N_INPUT_TOKENS || f == TL_N_OUTPUT_TOKENS)
            tl_event_set_num(ev, f, (double)rand_long(r));
        else
            tl_event_set_num(ev, f, (tl_test_rand01(r) - 0.5) * 1e6);
    }
    ev->n_flags = rnd(r, 10) == 0 ? TL_EVENT_MAX_FLAGS : (uint32_t)rnd(r, 4);
    for (uint32_t i = 0; i < ev->n_flags; i++) {
        size_t n = rand_text(r, text, sizeof text);
        ev->flags[i] = tl_str_make(pool_put(pl, text, n), n);
    }
    ev->n_attrs = rnd(r, 10) == 0 ? TL_EVENT_MAX_ATTRS : (uint32_t)rnd(r, 4);
    for (uint32_t i = 0; i < ev->n_attrs; i++) {
        char key[600];
        rand_text(r, text, 100);
        int kl = snprintf(key, sizeof key, "%u#%s", i, text); /* unique, as in a map */
        ev->attr_key[i] = tl_str_make(pool_put(pl, key, (size_t)kl), (size_t)kl);
        size_t n = rand_text(r, text, sizeof text);
        ev->attr_val[i] = tl_str_make(pool_put(pl, text, n), n);
    }
}

static void assert_avro_string(avro_value_t *v, tl_str exp)
{
    const char *s = NULL;
    size_t size = 0;
    assert_int_equal(avro_value_get_string(v, &s, &size), 0);
    assert_true(size >= 1); /* avro-c counts the NUL terminator */
    assert_str_view(tl_str_make(s, size - 1), exp);
}

/* Compare avro-c's reading of the built-in schema with the event that was encoded. */
static void assert_avro_value_is_event(avro_value_t *rec, const tl_event *ev)
{
    avro_value_t f, b;
    int disc;
    int64_t l;
    double d;

    assert_int_equal(avro_value_get_by_name(rec, "timestamp", &f, NULL), 0);
    assert_int_equal(avro_value_get_long(&f, &l), 0);
    assert_int_equal(l, ev->ts_ms);
    for (int i = 0; i < TL_S__COUNT; i++) {
        assert_int_equal(avro_value_get_by_name(rec, tl_str_field_names[i], &f, NULL), 0);
        assert_int_equal(avro_value_get_discriminant(&f, &disc), 0);
        assert_int_equal(disc, (ev->str_present >> i) & 1);
        if (disc) {
            assert_int_equal(avro_value_get_current_branch(&f, &b), 0);
            assert_avro_string(&b, ev->str[i]);
        }
    }
    for (int i = 0; i < TL_N__COUNT; i++) {
        assert_int_equal(avro_value_get_by_name(rec, tl_num_field_names[i], &f, NULL), 0);
        assert_int_equal(avro_value_get_discriminant(&f, &disc), 0);
        assert_int_equal(disc, (ev->num_present >> i) & 1);
        if (!disc)
            continue;
        assert_int_equal(avro_value_get_current_branch(&f, &b), 0);
        if (i == TL_N_INPUT_TOKENS || i == TL_N_OUTPUT_TOKENS) {
            assert_int_equal(avro_value_get_long(&b, &l), 0);
            assert_true((double)l == ev->num[i]);
        } else {
            assert_int_equal(avro_value_get_double(&b, &d), 0);
            assert_memory_equal(&d, &ev->num[i], sizeof d);
        }
    }
    size_t n = 0;
    assert_int_equal(avro_value_get_by_name(rec, "flags", &f, NULL), 0);
    assert_int_equal(avro_value_get_size(&f, &n), 0);
    assert_int_equal(n, ev->n_flags);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(avro_value_get_by_index(&f, i, &b, NULL), 0);
        assert_avro_string(&b, ev->flags[i]);
    }
    assert_int_equal(avro_value_get_by_name(rec, "attributes", &f, NULL), 0);
    assert_int_equal(avro_value_get_size(&f, &n), 0);
    assert_int_equal(n, ev->n_attrs);
    for (size_t i = 0; i < n; i++) {
        const char *key = NULL;
        assert_int_equal(avro_value_get_by_index(&f, i, &b, &key), 0);
        assert_str_view(tl_str_c(key), ev->attr_key[i]);
        assert_avro_string(&b, ev->attr_val[i]);
    }
}

static void test_avro_decode_encoder_output_read_by_avro_c(void **state)
{
    (void)state;
    static uint8_t buf[64 * 1024];
    static struct pool pl;
    static tl_event ev, got;
    tl_test_rng r = {77};
    avro_schema_t schema = parse_schema(tl_trace_event_schema_json);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t rec;
    assert_int_equal(avro_generic_value_new(iface, &rec), 0);
    avro_reader_t rd = avro_reader_memory((const char *)buf, 1);
    tl_avro_prog *p = compile_ok(tl_trace_event_schema_json);
    tl_decode_err err;

    for (int i = 0; i < N_RANDOM; i++) {
        random_event(&r, &ev, &pl);
        size_t n = tl_avro_encode_event(&ev, buf, sizeof buf);
        assert_true(n > 0);
        avro_reader_memory_set_source(rd, (const char *)buf, (int64_t)n);
        assert_int_equal(avro_value_reset(&rec), 0);
        if (avro_value_read(rd, &rec) != 0)
            fail_msg("record %d: avro-c: %s", i, avro_strerror());
        char extra;
        assert_int_not_equal(avro_read(rd, &extra, 1), 0); /* avro-c consumed all n bytes */
        assert_avro_value_is_event(&rec, &ev);

        assert_int_equal(tl_avro_decode(p, buf, n, &got, &err), 0);
        assert_events_equal(&got, &ev);
    }
    tl_avro_prog_destroy(p);
    avro_reader_free(rd);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static void test_avro_decode_encoder_respects_capacity(void **state)
{
    (void)state;
    static uint8_t buf[64 * 1024], small[64 * 1024];
    static struct pool pl;
    static tl_event ev;
    tl_test_rng r = {5};
    for (int i = 0; i < 20; i++) {
        random_event(&r, &ev, &pl);
        size_t n = tl_avro_encode_event(&ev, buf, sizeof buf);
        assert_true(n > 0);
        for (size_t cap = 0; cap < n; cap++)
            assert_int_equal(tl_avro_encode_event(&ev, small, cap), 0);
        assert_int_equal(tl_avro_encode_event(&ev, small, n), n);
        assert_memory_equal(small, buf, n);
    }
}

static void test_avro_decode_encoder_rounds_and_clamps_tokens(void **state)
{
    (void)state;
    uint8_t buf[512];
    tl_event ev, got;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(tl_trace_event_schema_json);
    tl_event_reset(&ev);
    ev.ts_ms = 1;
    tl_event_set_num(&ev, TL_N_INPUT_TOKENS, 12.6);
    tl_event_set_num(&ev, TL_N_OUTPUT_TOKENS, 1e300);
    size_t n = tl_avro_encode_event(&ev, buf, sizeof buf);
    assert_int_equal(tl_avro_decode(p, buf, n, &got, &err), 0);
    assert_true(got.num[TL_N_INPUT_TOKENS] == 13.0);
    assert_true(got.num[TL_N_OUTPUT_TOKENS] == (double)INT64_MAX);
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_confluent_header(void **state)
{
    (void)state;
    uint8_t plain[512], framed[512];
    tl_event ev;
    tl_event_reset(&ev);
    ev.ts_ms = 1764265338123;
    tl_event_set_str(&ev, TL_S_TOOL, "search", 6);
    size_t n = tl_avro_encode_event(&ev, plain, sizeof plain);
    size_t m = tl_avro_encode_event_confluent(&ev, 0x01020304u, framed, sizeof framed);
    assert_int_equal(m, n + 5);
    static const uint8_t head[5] = {0x00, 0x01, 0x02, 0x03, 0x04};
    assert_memory_equal(framed, head, 5);
    assert_memory_equal(framed + 5, plain, n);
    assert_int_equal(tl_avro_encode_event_confluent(&ev, 7, framed, 4), 0);
    assert_int_equal(tl_avro_encode_event_confluent(&ev, 7, framed, n + 4), 0);
    assert_int_equal(tl_avro_encode_event_confluent(&ev, 0xfffffffeu, framed, n + 5), n + 5);
    static const uint8_t head2[5] = {0x00, 0xff, 0xff, 0xff, 0xfe};
    assert_memory_equal(framed, head2, 5);
}

/* ---- malformed input ------------------------------------------------------------------ */

static void truncations_of(const char *json, int64_t ts_div, uint64_t seed)
{
    static char buf[64 * 1024];
    static struct pool pl;
    static tl_event exp, got;
    tl_test_rng r = {seed};
    avro_schema_t schema = parse_schema(json);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t rec;
    assert_int_equal(avro_generic_value_new(iface, &rec), 0);
    avro_writer_t w = avro_writer_memory(buf, sizeof buf);
    tl_avro_prog *p = compile_ok(json);
    tl_decode_err err;

    for (int i = 0; i < 60; i++) {
        size_t n = write_random(&rec, schema, ts_div, &r, &exp, &pl, w, buf, sizeof buf);
        /* Copy each prefix to its own heap block so ASan sees any read past its end. */
        for (size_t k = 0; k < n; k++) {
            uint8_t *cut = malloc(k ? k : 1);
            memcpy(cut, buf, k);
            int code = decode_code(p, cut, k, &got, &err);
            if (code != TL_DECODE_TRUNCATED && code != TL_DECODE_BAD_LENGTH)
                fail_msg("record %d cut at %zu of %zu: got %s", i, k, n,
                         tl_decode_code_name(code));
            assert_true(err.offset <= k);
            free(cut);
        }
        assert_int_equal(decode_code(p, (const uint8_t *)buf, n, &got, &err), TL_DECODE_OK);
    }
    tl_avro_prog_destroy(p);
    avro_writer_free(w);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static void test_avro_decode_every_truncation_rejected(void **state)
{
    (void)state;
    truncations_of(tl_trace_event_schema_json, 1, 99);
    truncations_of(evolved_schema, 1000, 100);
}

static void test_avro_decode_bad_union_index(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(tl_trace_event_schema_json);

    bb.n = 0;
    bb_long(&bb, 1000); /* 2 bytes */
    bb_long(&bb, 2);    /* trace_id: branch 2 of [null, string] */
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_UNION);
    assert_int_equal(err.offset, 2);
    assert_non_null(strstr(err.detail, "trace_id"));

    bb.n = 0;
    bb_long(&bb, 1000);
    bb_long(&bb, 0);
    bb_long(&bb, -1); /* span_id: negative branch */
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_UNION);
    assert_int_equal(err.offset, 3);

    /* In a skipped 3-branch union of the evolved schema. */
    tl_avro_prog_destroy(p);
    p = compile_ok("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                   "{\"name\":\"timestamp\",\"type\":\"long\"},"
                   "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]}]}");
    bb.n = 0;
    bb_long(&bb, 5);
    bb_long(&bb, 2);
    bb_long(&bb, 77);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    bb.n = 0;
    bb_long(&bb, 5);
    bb_long(&bb, 3);
    bb_long(&bb, 77);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_UNION);
    assert_int_equal(err.offset, 1);
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_overlong_varint(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(tl_trace_event_schema_json);

    /* 11 continuation bytes. */
    bb.n = 0;
    for (int i = 0; i < 11; i++)
        bb_raw(&bb, "\xff", 1);
    bb_raw(&bb, "\x00", 1);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_VARINT);
    assert_int_equal(err.offset, 0);

    /* 10 bytes whose last one carries bits beyond bit 63. */
    bb.n = 0;
    bb_raw(&bb, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_VARINT);

    /* The longest valid varints decode: INT64_MAX and INT64_MIN timestamps. */
    bb.n = 0;
    bb_builtin_head(&bb, INT64_MAX);
    bb_long(&bb, 0);
    bb_long(&bb, 0);
    assert_int_equal(bb.b[9], 0x01);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    assert_int_equal(ev.ts_ms, INT64_MAX);
    bb.n = 0;
    bb_builtin_head(&bb, INT64_MIN);
    bb_long(&bb, 0);
    bb_long(&bb, 0);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    assert_int_equal(ev.ts_ms, INT64_MIN);

    /* Every length from 1 to 10 bytes, on both sides of each 7-bit boundary, positive and
     * negative: up to 8 bytes through the word-at-a-time path, 9 and 10 through the loop. */
    for (int bit = 0; bit < 64; bit++) {
        for (int delta = -1; delta <= 1; delta++) {
            uint64_t mag = ((bit == 63 ? (uint64_t)INT64_MAX : (1ull << bit)) + (uint64_t)(int64_t)delta) &
                           (uint64_t)INT64_MAX;
            for (int sign = 0; sign < 2; sign++) {
                int64_t ts = sign ? -(int64_t)mag : (int64_t)mag;
                bb.n = 0;
                bb_builtin_head(&bb, ts);
                bb_long(&bb, 0);
                bb_long(&bb, 0);
                assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
                assert_int_equal(ev.ts_ms, ts);
            }
        }
    }

    /* A varint cut short. */
    assert_int_equal(decode_code(p, (const uint8_t *)"\x80\x80", 2, &ev, &err),
                     TL_DECODE_TRUNCATED);
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_negative_string_length(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(tl_trace_event_schema_json);
    bb.n = 0;
    bb_long(&bb, 1000);
    bb_long(&bb, 1);  /* trace_id present */
    bb_long(&bb, -3); /* length -3 */
    bb_raw(&bb, "abcdefgh", 8);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_LENGTH);
    assert_int_equal(err.offset, 3);
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_trailing_bytes(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(tl_trace_event_schema_json);
    bb.n = 0;
    bb_builtin_head(&bb, 1764265338123);
    bb_long(&bb, 0);
    bb_long(&bb, 0);
    size_t good = bb.n;
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    bb_raw(&bb, "\x00", 1);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_TRAILING);
    assert_int_equal(err.offset, good);
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_giant_lengths(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(tl_trace_event_schema_json);
    const int64_t giants[] = {1ll << 31, 1ll << 32, 1ll << 62, INT64_MAX};

    for (size_t g = 0; g < sizeof giants / sizeof giants[0]; g++) {
        bb.n = 0; /* string */
        bb_long(&bb, 1000);
        bb_long(&bb, 1);
        bb_long(&bb, giants[g]);
        bb_raw(&bb, "abc", 3);
        assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_LENGTH);

        bb.n = 0; /* flags count */
        bb_builtin_head(&bb, 1000);
        bb_long(&bb, giants[g]);
        assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_TOO_MANY_FLAGS);

        bb.n = 0; /* flags block byte size */
        bb_builtin_head(&bb, 1000);
        bb_long(&bb, -1);
        bb_long(&bb, giants[g]);
        assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_LENGTH);

        bb.n = 0; /* attributes count */
        bb_builtin_head(&bb, 1000);
        bb_long(&bb, 0);
        bb_long(&bb, giants[g]);
        assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_TOO_MANY_ATTRS);
    }
    bb.n = 0; /* the most negative block count cannot be negated */
    bb_builtin_head(&bb, 1000);
    bb_long(&bb, INT64_MIN);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_LENGTH);
    tl_avro_prog_destroy(p);

    /* Skipped unknown fields: bytes, array, map. */
    p = compile_ok("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                   "{\"name\":\"timestamp\",\"type\":\"long\"},"
                   "{\"name\":\"b\",\"type\":\"bytes\"},"
                   "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
                   "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}}]}");
    for (size_t g = 0; g < sizeof giants / sizeof giants[0]; g++) {
        for (int which = 0; which < 3; which++) {
            bb.n = 0;
            bb_long(&bb, 1000);
            if (which > 0)
                bb_long(&bb, 0); /* empty bytes */
            if (which > 1)
                bb_long(&bb, 0); /* empty array */
            bb_long(&bb, giants[g]);
            bb_raw(&bb, "\x02\x02\x02\x02", 4);
            assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_LENGTH);
        }
    }
    tl_avro_prog_destroy(p);
}

/* avro-c writes the records, so the limits are tested on real encoder output. */
static size_t write_flags_attrs(avro_schema_t schema, uint32_t nflags, uint32_t nattrs,
                                char *buf, size_t cap)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t rec, f, item, b;
    assert_int_equal(avro_generic_value_new(iface, &rec), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "timestamp", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, 42), 0);
    for (int i = 0; i < TL_S__COUNT + TL_N__COUNT; i++) {
        assert_int_equal(avro_value_get_by_index(&rec, (size_t)i + 1, &f, NULL), 0);
        assert_int_equal(avro_value_set_branch(&f, 0, &b), 0);
    }
    assert_int_equal(avro_value_get_by_name(&rec, "flags", &f, NULL), 0);
    for (uint32_t i = 0; i < nflags; i++) {
        assert_int_equal(avro_value_append(&f, &item, NULL), 0);
        assert_int_equal(avro_value_set_string(&item, "retry"), 0);
    }
    assert_int_equal(avro_value_get_by_name(&rec, "attributes", &f, NULL), 0);
    for (uint32_t i = 0; i < nattrs; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%u", i);
        assert_int_equal(avro_value_add(&f, key, &item, NULL, NULL), 0);
        assert_int_equal(avro_value_set_string(&item, "v"), 0);
    }
    avro_writer_t w = avro_writer_memory(buf, (int64_t)cap);
    assert_int_equal(avro_value_write(w, &rec), 0);
    size_t n = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    return n;
}

static void test_avro_decode_flag_and_attr_limits(void **state)
{
    (void)state;
    static char buf[8192];
    tl_event ev;
    tl_decode_err err;
    avro_schema_t schema = parse_schema(tl_trace_event_schema_json);
    tl_avro_prog *p = compile_ok(tl_trace_event_schema_json);
    size_t n = write_flags_attrs(schema, TL_EVENT_MAX_FLAGS, TL_EVENT_MAX_ATTRS, buf, sizeof buf);
    assert_int_equal(decode_code(p, (uint8_t *)buf, n, &ev, &err), TL_DECODE_OK);
    assert_int_equal(ev.n_flags, TL_EVENT_MAX_FLAGS);
    assert_int_equal(ev.n_attrs, TL_EVENT_MAX_ATTRS);
    assert_true(tl_str_eq_c(ev.attr_key[63], "k63"));
    n = write_flags_attrs(schema, TL_EVENT_MAX_FLAGS + 1, 0, buf, sizeof buf);
    assert_int_equal(decode_code(p, (uint8_t *)buf, n, &ev, &err), TL_DECODE_TOO_MANY_FLAGS);
    n = write_flags_attrs(schema, 0, TL_EVENT_MAX_ATTRS + 1, buf, sizeof buf);
    assert_int_equal(decode_code(p, (uint8_t *)buf, n, &ev, &err), TL_DECODE_TOO_MANY_ATTRS);
    tl_avro_prog_destroy(p);
    avro_schema_decref(schema);
}

static void test_avro_decode_negative_block_counts(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(tl_trace_event_schema_json);

    /* flags as two blocks, the first in the sized form; attributes likewise. */
    bb.n = 0;
    bb_builtin_head(&bb, 1000);
    bb_long(&bb, -2);
    bb_long(&bb, 8); /* "\x06retry" + "\x02a" */
    bb_str(&bb, "retry");
    bb_str(&bb, "a");
    bb_long(&bb, 1);
    bb_str(&bb, "refusal");
    bb_long(&bb, 0);
    bb_long(&bb, -1);
    bb_long(&bb, 4);
    bb_str(&bb, "k");
    bb_str(&bb, "v");
    bb_long(&bb, 0);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    assert_int_equal(ev.n_flags, 3);
    assert_true(tl_str_eq_c(ev.flags[0], "retry"));
    assert_true(tl_str_eq_c(ev.flags[2], "refusal"));
    assert_int_equal(ev.n_attrs, 1);
    assert_true(tl_str_eq_c(ev.attr_val[0], "v"));
    tl_avro_prog_destroy(p);

    /* Skipped array and map in the sized form are jumped over by their byte size. */
    p = compile_ok("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                   "{\"name\":\"timestamp\",\"type\":\"long\"},"
                   "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
                   "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
                   "{\"name\":\"tool\",\"type\":\"string\"}]}");
    bb.n = 0;
    bb_long(&bb, 1000);
    bb_long(&bb, -2);
    bb_long(&bb, 5);
    bb_str(&bb, "ab");
    bb_str(&bb, "c");
    bb_long(&bb, 1);
    bb_str(&bb, "d");
    bb_long(&bb, 0);
    bb_long(&bb, -1);
    bb_long(&bb, 10);
    bb_str(&bb, "x");
    bb_raw(&bb, "\0\0\0\0\0\0\xf0\x3f", 8);
    bb_long(&bb, 0);
    bb_str(&bb, "grep");
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    assert_true(tl_str_eq_c(ev.str[TL_S_TOOL], "grep"));
    assert_int_equal(ev.ts_ms, 1000);
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_null_timestamp_is_missing(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"timestamp\",\"type\":"
        "[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}]}]}");
    bb.n = 0;
    bb_long(&bb, 0);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_MISSING_TIMESTAMP);
    bb.n = 0;
    bb_long(&bb, 1);
    bb_long(&bb, 1764265338123456);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    assert_int_equal(ev.ts_ms, 1764265338123); /* micros in a union still become ms */
    bb.n = 0;
    bb_long(&bb, 1);
    bb_long(&bb, -1500); /* before 1970: floor, not truncation */
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    assert_int_equal(ev.ts_ms, -2);
    tl_avro_prog_destroy(p);

    p = compile_ok("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"timestamp\","
                   "\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-nanos\"}},"
                   "{\"name\":\"x\",\"type\":{\"type\":\"long\",\"logicalType\":"
                   "\"timestamp-micros\"}}]}");
    bb.n = 0;
    bb_long(&bb, 1764265338123456789);
    bb_long(&bb, 5);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    assert_int_equal(ev.ts_ms, 1764265338123);
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_string_timestamp(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                                 "{\"name\":\"kind\",\"type\":\"string\"},"
                                 "{\"name\":\"timestamp\",\"type\":\"string\"}]}");
    bb.n = 0;
    bb_str(&bb, "llm_call");
    bb_str(&bb, "2026-11-27T17:42:18.123Z");
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    assert_int_equal(ev.ts_ms, 1795801338123);
    assert_true(tl_str_eq_c(ev.str[TL_S_KIND], "llm_call"));
    bb.n = 0;
    bb_str(&bb, "llm_call");
    bb_str(&bb, "yesterday");
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_TIMESTAMP);
    assert_int_equal(err.offset, 9);
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_recursive_type_depth_limited(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"timestamp\",\"type\":\"long\"},"
        "{\"name\":\"list\",\"type\":{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
        "{\"name\":\"v\",\"type\":\"long\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}},"
        "{\"name\":\"back\",\"type\":[\"null\",\"R\"]}]}");
    for (int depth = 1; depth <= 200; depth *= 2) {
        bb.n = 0;
        bb_long(&bb, 7);
        for (int i = 0; i < depth; i++) {
            bb_long(&bb, i);
            bb_long(&bb, i + 1 < depth ? 1 : 0);
        }
        bb_long(&bb, 1); /* back: one nested R with an empty list and no back */
        bb_long(&bb, 8);
        bb_long(&bb, 0);
        bb_long(&bb, 0);
        bb_long(&bb, 0);
        int code = decode_code(p, bb.b, bb.n, &ev, &err);
        if (depth < 20) {
            assert_int_equal(code, TL_DECODE_OK);
            assert_int_equal(ev.ts_ms, 7);
        } else if (depth > 100) {
            assert_int_equal(code, TL_DECODE_TOO_DEEP);
        }
    }
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_zero_size_items_not_looped(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"timestamp\",\"type\":\"long\"},"
        "{\"name\":\"nulls\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
        "{\"name\":\"empties\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
        "\"name\":\"E\",\"fields\":[{\"name\":\"z\",\"type\":{\"type\":\"fixed\",\"name\":\"Z\","
        "\"size\":0}}]}}}]}");
    bb.n = 0;
    bb_long(&bb, 3);
    bb_long(&bb, INT64_MAX); /* would take centuries if looped */
    bb_long(&bb, 0);
    bb_long(&bb, 1ll << 60);
    bb_long(&bb, 0);
    clock_t t0 = clock();
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    assert_true(clock() - t0 < CLOCKS_PER_SEC);
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_enum_fields(void **state)
{
    (void)state;
    static struct bb bb;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"timestamp\",\"type\":\"long\"},"
        "{\"name\":\"status\",\"type\":[{\"type\":\"enum\",\"name\":\"S\",\"symbols\":[\"ok\",\"error\"]},\"null\"]},"
        "{\"name\":\"other\",\"type\":\"S\"}]}");
    bb.n = 0;
    bb_long(&bb, 3);
    bb_long(&bb, 0);
    bb_long(&bb, 1);
    bb_long(&bb, 0);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_OK);
    assert_true(tl_str_eq_c(ev.str[TL_S_STATUS], "error"));
    bb.n = 0;
    bb_long(&bb, 3);
    bb_long(&bb, 0);
    bb_long(&bb, 2); /* no third symbol */
    bb_long(&bb, 0);
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_TYPE);
    assert_int_equal(err.offset, 2);
    bb.n = 0;
    bb_long(&bb, 3);
    bb_long(&bb, 1); /* null status */
    bb_long(&bb, 5); /* skipped enum out of range */
    assert_int_equal(decode_code(p, bb.b, bb.n, &ev, &err), TL_DECODE_BAD_TYPE);
    tl_avro_prog_destroy(p);
}

static void test_avro_decode_always_null_field_is_absent(void **state)
{
    (void)state;
    tl_event ev;
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"timestamp\",\"type\":\"long\"},"
        "{\"name\":\"score\",\"type\":\"null\"},{\"name\":\"tool\",\"type\":[\"string\"]}]}");
    assert_int_equal(decode_code(p, (const uint8_t *)"\x04\x00\x02x", 4, &ev, &err),
                     TL_DECODE_OK);
    assert_int_equal(ev.num_present, 0);
    assert_true(tl_str_eq_c(ev.str[TL_S_TOOL], "x"));
    assert_int_equal(decode_code(p, (const uint8_t *)"\x04\x02\x02x", 4, &ev, &err),
                     TL_DECODE_BAD_UNION);
    tl_avro_prog_destroy(p);
}

/* ---- compile errors -------------------------------------------------------------------- */

static void expect_compile_error(const char *json, const char *needle)
{
    char errbuf[256];
    tl_avro_prog *p = tl_avro_prog_new(json, strlen(json), errbuf, sizeof errbuf);
    assert_null(p);
    if (!strstr(errbuf, needle))
        fail_msg("error '%s' does not mention '%s'", errbuf, needle);
}

static void test_avro_decode_compile_errors(void **state)
{
    (void)state;
    expect_compile_error("\"long\"", "not a record");
    expect_compile_error("{\"type\":\"array\",\"items\":\"string\"}", "not a record");
    expect_compile_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                         "{\"name\":\"timestamp\",\"type\":\"long\"},"
                         "{\"name\":\"latency_ms\",\"type\":\"string\"}]}",
                         "latency_ms");
    expect_compile_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                         "{\"name\":\"tool\",\"type\":\"string\"}]}",
                         "timestamp");
    expect_compile_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":[", "invalid schema");
    expect_compile_error("not json at all", "invalid schema");
    expect_compile_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                         "{\"name\":\"timestamp\",\"type\":\"double\"}]}",
                         "timestamp");
    expect_compile_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                         "{\"name\":\"timestamp\",\"type\":\"null\"}]}",
                         "timestamp");
    expect_compile_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                         "{\"name\":\"timestamp\",\"type\":\"long\"},"
                         "{\"name\":\"flags\",\"type\":{\"type\":\"array\",\"items\":\"long\"}}]}",
                         "flags");
    expect_compile_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                         "{\"name\":\"timestamp\",\"type\":\"long\"},"
                         "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"int\"}}]}",
                         "attributes");
    expect_compile_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                         "{\"name\":\"timestamp\",\"type\":\"long\"},"
                         "{\"name\":\"tool\",\"type\":[\"null\",\"string\",\"long\"]}]}",
                         "tool");
    expect_compile_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                         "{\"name\":\"timestamp\",\"type\":\"long\"},"
                         "{\"name\":\"cost_usd\",\"type\":\"boolean\"}]}",
                         "cost_usd");
    /* errbuf may be absent */
    assert_null(tl_avro_prog_new("\"long\"", 6, NULL, 0));
    tl_avro_prog_destroy(NULL);
}

static void test_avro_decode_compile_survives_allocation_failures(void **state)
{
    (void)state;
    /* Fail the k-th allocation for every k until compiling succeeds: no crash, no leak
     * (ASan), and an error message every time. */
    for (int64_t k = 0; k < 10000; k++) {
        char errbuf[128] = "";
        tl_alloc_fail_after(k);
        tl_avro_prog *p = tl_avro_prog_new(evolved_schema, strlen(evolved_schema), errbuf,
                                           sizeof errbuf);
        tl_alloc_fail_after(-1);
        if (p) {
            assert_true(k > 3);
            tl_avro_prog_destroy(p);
            return;
        }
        assert_non_null(strstr(errbuf, "out of memory"));
    }
    fail_msg("compile never succeeded");
}

static void test_avro_decode_allocates_nothing(void **state)
{
    (void)state;
    static uint8_t buf[64 * 1024];
    static struct pool pl;
    static tl_event ev, got;
    tl_test_rng r = {3};
    tl_decode_err err;
    tl_avro_prog *p = compile_ok(tl_trace_event_schema_json);
    random_event(&r, &ev, &pl);
    size_t n = tl_avro_encode_event(&ev, buf, sizeof buf);
    uint64_t before = tl_alloc_count();
    for (int i = 0; i < 1000; i++)
        assert_int_equal(tl_avro_decode(p, buf, n, &got, &err), 0);
    assert_int_equal(tl_alloc_count(), before);
    tl_avro_prog_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avro_decode_builtin_random_matches_avro_c),
        cmocka_unit_test(test_avro_decode_evolved_random_matches_avro_c),
        cmocka_unit_test(test_avro_decode_encoder_output_read_by_avro_c),
        cmocka_unit_test(test_avro_decode_encoder_respects_capacity),
        cmocka_unit_test(test_avro_decode_encoder_rounds_and_clamps_tokens),
        cmocka_unit_test(test_avro_decode_confluent_header),
        cmocka_unit_test(test_avro_decode_every_truncation_rejected),
        cmocka_unit_test(test_avro_decode_bad_union_index),
        cmocka_unit_test(test_avro_decode_overlong_varint),
        cmocka_unit_test(test_avro_decode_negative_string_length),
        cmocka_unit_test(test_avro_decode_trailing_bytes),
        cmocka_unit_test(test_avro_decode_giant_lengths),
        cmocka_unit_test(test_avro_decode_flag_and_attr_limits),
        cmocka_unit_test(test_avro_decode_negative_block_counts),
        cmocka_unit_test(test_avro_decode_null_timestamp_is_missing),
        cmocka_unit_test(test_avro_decode_string_timestamp),
        cmocka_unit_test(test_avro_decode_recursive_type_depth_limited),
        cmocka_unit_test(test_avro_decode_zero_size_items_not_looped),
        cmocka_unit_test(test_avro_decode_enum_fields),
        cmocka_unit_test(test_avro_decode_always_null_field_is_absent),
        cmocka_unit_test(test_avro_decode_compile_errors),
        cmocka_unit_test(test_avro_decode_compile_survives_allocation_failures),
        cmocka_unit_test(test_avro_decode_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
