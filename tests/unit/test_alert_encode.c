/* tests/unit/test_alert_encode.c - alert encoders (engine/alert_json.c, alert_avro.c,
 * alert_line.c).
 *
 * JSON output is parsed back with jansson (strict: duplicates rejected, UTF-8 validated) and
 * checked field by field; Avro output is read back with avro-c against the embedded
 * schemas/alert_event.avsc (tl_alert_event_schema_json) and checked field by field, and must
 * be byte-identical to what avro-c itself writes for the same value. Both encoders are
 * driven at every cap from 0 to the needed size to show they never write past cap. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <avro.h>
#include <jansson.h>

#include "alert.h"

#define TS_MS 1795801338123LL     /* 2026-11-27T17:42:18.123Z */
#define STARTS_MS 1795800720000LL /* 2026-11-27T17:32:00.000Z */
#define ENDS_MS 1795802730007LL   /* 2026-11-27T18:05:30.007Z */

/* Untrusted text with everything JSON must escape, plus multi-byte UTF-8. */
static const char k_summary[] =
    "Tool \"get_order\" at C:\\tmp\x01\x1f\n\ttab \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac "
    "\xc3\xa9 \xf0\x9f\x98\x80 del\x7f end";
static const char k_region[] = "eu-\"west\"\\1\n\x02";
static const char k_team[] = "\xc3\xbcn\xc3\xaf \xe2\x9c\x93";

static tl_alert make_alert(void)
{
    tl_alert a;
    memset(&a, 0, sizeof a);
    a.alert = "ToolErrorRate";
    a.state = TL_ALERT_FIRING;
    a.timestamp_ms = TS_MS;
    a.service = "support-bot";
    a.tool = "get_order_status";
    a.metric = "ratio(status == \"error\")";
    a.value = 0.234;
    a.threshold = 0.1;
    a.op = ">";
    a.unit = TL_UNIT_RATIO;
    a.window_ms = 600000;
    a.severity = "critical";
    a.owner = "team-support";
    a.runbook = "https://runbooks.example/tool-errors";
    a.summary = k_summary;
    a.description = NULL;
    memcpy(a.fingerprint, "0123456789abcdef", 17);
    memcpy(a.transition_id, "0123456789abcdef0011223344556677", 33);
    a.starts_at_ms = STARTS_MS;
    a.ends_at_ms = -1;
    a.n_labels = 4;
    a.label_key[0] = "service";
    a.label_val[0] = "support-bot";
    a.label_key[1] = "tool";
    a.label_val[1] = "get_order_status";
    a.label_key[2] = "region";
    a.label_val[2] = k_region;
    a.label_key[3] = "team\xc3\xa9";
    a.label_val[3] = k_team;
    a.n_exemplars = 2;
    a.exemplar_trace_ids[0] = "4bf92f3577b34da6a3ce929d0e0e4736";
    a.exemplar_trace_ids[1] = "00f067aa0ba902b7";
    return a;
}

/* ---------------------------------------------------------------- JSON */

static json_t *encode_json(const tl_alert *a, size_t *len_out)
{
    static char buf[8192];
    size_t n = tl_alert_encode_json(a, buf, sizeof buf);
    assert_true(n > 0);
    json_error_t err;
    json_t *root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        fail_msg("invalid JSON at %d: %s\n%.*s", err.position, err.text, (int)n, buf);
    assert_true(json_is_object(root));
    if (len_out)
        *len_out = n;
    return root;
}

static void expect_str(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("field '%s' is not a string", key);
    assert_int_equal(json_string_length(v), strlen(want));
    assert_memory_equal(json_string_value(v), want, strlen(want));
}

static void expect_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_null(v))
        fail_msg("field '%s' is not null", key);
}

static void expect_num(json_t *o, const char *key, double want)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("field '%s' is not a number", key);
    assert_true(json_number_value(v) == want);
}

static void test_alert_encode_json_fields(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    json_t *o = encode_json(&a, NULL);
    expect_str(o, "alert", "ToolErrorRate");
    expect_str(o, "state", "firing");
    expect_str(o, "timestamp", "2026-11-27T17:42:18.123Z");
    expect_str(o, "service", "support-bot");
    expect_str(o, "tool", "get_order_status");
    expect_str(o, "metric", "ratio(status == \"error\")");
    expect_num(o, "value", 0.234);
    expect_str(o, "value_text", "23.4%");
    expect_num(o, "threshold", 0.1);
    expect_str(o, "threshold_text", "> 10%");
    expect_str(o, "unit", "ratio");
    expect_str(o, "window", "10m");
    assert_true(json_is_integer(json_object_get(o, "window_ms")));
    assert_int_equal(json_integer_value(json_object_get(o, "window_ms")), 600000);
    expect_str(o, "severity", "critical");
    expect_str(o, "owner", "team-support");
    expect_str(o, "runbook", "https://runbooks.example/tool-errors");
    expect_str(o, "summary", k_summary);
    expect_null(o, "description");
    expect_str(o, "fingerprint", "0123456789abcdef");
    expect_str(o, "transition_id", "0123456789abcdef0011223344556677");
    expect_str(o, "starts_at", "2026-11-27T17:32:00.000Z");
    expect_null(o, "ends_at"); /* firing */

    json_t *labels = json_object_get(o, "labels");
    assert_true(json_is_object(labels));
    assert_int_equal(json_object_size(labels), 4);
    expect_str(labels, "service", "support-bot");
    expect_str(labels, "tool", "get_order_status");
    expect_str(labels, "region", k_region);
    expect_str(labels, "team\xc3\xa9", k_team);

    json_t *ex = json_object_get(o, "exemplar_trace_ids");
    assert_true(json_is_array(ex));
    assert_int_equal(json_array_size(ex), 2);
    assert_string_equal(json_string_value(json_array_get(ex, 0)),
                        "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(json_string_value(json_array_get(ex, 1)), "00f067aa0ba902b7");

    assert_true(json_is_integer(json_object_get(o, "resend")));
    assert_int_equal(json_integer_value(json_object_get(o, "resend")), 0);

    /* 25 fields, no more: every field of the Avro schema, with the same names */
    assert_int_equal(json_object_size(o), 25);
    avro_schema_t schema;
    assert_int_equal(avro_schema_from_json_length(tl_alert_event_schema_json,
                                                  strlen(tl_alert_event_schema_json), &schema),
                     0);
    assert_int_equal(avro_schema_record_size(schema), 25);
    for (int i = 0; i < 25; i++) {
        const char *name = avro_schema_record_field_name(schema, i);
        if (!json_object_get(o, name))
            fail_msg("schema field '%s' missing from JSON", name);
    }
    avro_schema_decref(schema);
    json_decref(o);
}

static void test_alert_encode_json_escapes_raw_text(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    char buf[8192];
    size_t n = tl_alert_encode_json(&a, buf, sizeof buf);
    assert_true(n > 0);
    /* control characters never appear raw; the known escapes do */
    for (size_t i = 0; i < n; i++)
        assert_true((unsigned char)buf[i] >= 0x20);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "Tool \\\"get_order\\\" at C:\\\\tmp\\u0001\\u001f"));
    /* non-ASCII UTF-8 is passed through as is (valid JSON, readable) */
    assert_non_null(strstr(buf, "\xe6\x97\xa5\xe6\x9c\xac"));
}

/* Event text need not be UTF-8 (decoders pass bytes through, and labels are cut at 128
 * bytes): the JSON alert is still valid UTF-8, each bad byte written as U+FFFD, so strict
 * parsers (jansson here) read the alert instead of dropping it. */
static void test_alert_encode_json_invalid_utf8_replaced(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"latin1 caf\xe9", "latin1 caf\xef\xbf\xbd"},                       /* a Latin-1 byte */
        {"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"},                  /* a character cut short */
        {"\xc0\xaf overlong", "\xef\xbf\xbd\xef\xbf\xbd overlong"},         /* overlong '/' */
        {"surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"big \xf4\x90\x80\x80", "big \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"stray \x80\xbf", "stray \xef\xbf\xbd\xef\xbf\xbd"},
        {"ok \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xc2\x9b", "ok \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xc2\x9b"},
        {"q\"\xff\\\n", "q\"\xef\xbf\xbd\\\n"}, /* escapes still apply around it */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        a.summary = cases[i].in;
        a.label_val[2] = cases[i].in;
        a.tool = cases[i].in;
        a.exemplar_trace_ids[1] = cases[i].in;
        json_t *o = encode_json(&a, NULL); /* fails the test if jansson rejects it */
        expect_str(o, "summary", cases[i].out);
        expect_str(o, "tool", cases[i].out);
        expect_str(json_object_get(o, "labels"), "region", cases[i].out);
        assert_string_equal(json_string_value(json_array_get(json_object_get(o, "exemplar_trace_ids"), 1)),
                            cases[i].out);
        json_decref(o);
    }
}

static void test_alert_encode_json_nan_inf_are_null(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    a.value = NAN;
    a.threshold = INFINITY;
    json_t *o = encode_json(&a, NULL);
    expect_null(o, "value");
    expect_str(o, "value_text", "n/a");
    expect_null(o, "threshold");
    expect_str(o, "threshold_text", "> inf");
    json_decref(o);

    a.value = -INFINITY;
    a.threshold = 1e-300; /* tiny but finite: a number, round-tripping exactly */
    o = encode_json(&a, NULL);
    expect_null(o, "value");
    expect_num(o, "threshold", 1e-300);
    json_decref(o);
}

static void test_alert_encode_json_resolved_and_nulls(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    a.state = TL_ALERT_RESOLVED;
    a.ends_at_ms = ENDS_MS;
    a.service = NULL;
    a.tool = NULL;
    a.description = "runbook step 1\n\"check\"";
    a.owner = NULL; /* not nullable in the schema: written as "" */
    a.value = 0.1 + 0.2; /* needs 17 digits to round-trip */
    a.op = NULL;
    a.n_labels = 0;
    a.n_exemplars = 0;
    a.resend = 3; /* the third re-send of this resolved notification */
    json_t *o = encode_json(&a, NULL);
    expect_str(o, "state", "resolved");
    assert_int_equal(json_integer_value(json_object_get(o, "resend")), 3);
    expect_str(o, "ends_at", "2026-11-27T18:05:30.007Z");
    expect_null(o, "service");
    expect_null(o, "tool");
    expect_str(o, "description", "runbook step 1\n\"check\"");
    expect_str(o, "owner", "");
    expect_num(o, "value", 0.1 + 0.2);
    expect_str(o, "threshold_text", "10%");
    assert_int_equal(json_object_size(json_object_get(o, "labels")), 0);
    assert_int_equal(json_array_size(json_object_get(o, "exemplar_trace_ids")), 0);
    json_decref(o);
}

static void test_alert_encode_json_skips_null_label_keys_and_clamps(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    a.label_key[1] = NULL;
    a.label_val[2] = NULL;
    a.n_exemplars = 99; /* clamped to TL_ALERT_MAX_EXEMPLARS */
    a.exemplar_trace_ids[1] = NULL;
    a.exemplar_trace_ids[2] = "t2";
    a.exemplar_trace_ids[3] = "t3";
    json_t *o = encode_json(&a, NULL);
    json_t *labels = json_object_get(o, "labels");
    assert_int_equal(json_object_size(labels), 3);
    assert_null(json_object_get(labels, "tool"));
    expect_str(labels, "region", "");
    json_t *ex = json_object_get(o, "exemplar_trace_ids");
    assert_int_equal(json_array_size(ex), 3);
    assert_string_equal(json_string_value(json_array_get(ex, 1)), "t2");
    json_decref(o);
}

static void test_alert_encode_json_every_cap(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    char ref[8192];
    size_t need = tl_alert_encode_json(&a, ref, sizeof ref);
    assert_true(need > 0);
    char *buf = malloc(need + 64);
    assert_non_null(buf);
    for (size_t cap = 0; cap <= need; cap++) {
        memset(buf, 0x5a, need + 64);
        size_t n = tl_alert_encode_json(&a, buf, cap);
        for (size_t i = cap; i < need + 64; i++)
            if ((unsigned char)buf[i] != 0x5a)
                fail_msg("cap %zu: byte %zu written", cap, i);
        if (cap < need) {
            assert_int_equal(n, 0);
        } else {
            assert_int_equal(n, need);
            assert_memory_equal(buf, ref, need);
        }
    }
    free(buf);
}

/* ---------------------------------------------------------------- Avro */

typedef struct avro_ctx {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
} avro_ctx;

static void avro_ctx_read(avro_ctx *c, const uint8_t *buf, size_t n)
{
    if (avro_schema_from_json_length(tl_alert_event_schema_json,
                                     strlen(tl_alert_event_schema_json), &c->schema) != 0)
        fail_msg("schema: %s", avro_strerror());
    c->iface = avro_generic_class_from_schema(c->schema);
    assert_non_null(c->iface);
    assert_int_equal(avro_generic_value_new(c->iface, &c->value), 0);
    avro_reader_t r = avro_reader_memory((const char *)buf, (int64_t)n);
    if (avro_value_read(r, &c->value) != 0)
        fail_msg("avro_value_read: %s", avro_strerror());
    char extra;
    assert_int_not_equal(avro_read(r, &extra, 1), 0); /* every byte consumed */
    avro_reader_free(r);

    /* avro-c writes the same value to exactly the same bytes */
    size_t sz = 0;
    assert_int_equal(avro_value_sizeof(&c->value, &sz), 0);
    assert_int_equal(sz, n);
    char *again = malloc(sz ? sz : 1);
    avro_writer_t w = avro_writer_memory(again, (int64_t)sz);
    assert_int_equal(avro_value_write(w, &c->value), 0);
    assert_memory_equal(again, buf, n);
    avro_writer_free(w);
    free(again);
}

static void avro_ctx_fini(avro_ctx *c)
{
    avro_value_decref(&c->value);
    avro_value_iface_decref(c->iface);
    avro_schema_decref(c->schema);
}

static avro_value_t field(avro_ctx *c, const char *name)
{
    avro_value_t f;
    if (avro_value_get_by_name(&c->value, name, &f, NULL) != 0)
        fail_msg("no field '%s'", name);
    return f;
}

static void expect_avro_str_v(avro_value_t *v, const char *want)
{
    const char *s = NULL;
    size_t sz = 0;
    assert_int_equal(avro_value_get_type(v), AVRO_STRING);
    assert_int_equal(avro_value_get_string(v, &s, &sz), 0);
    assert_int_equal(sz, strlen(want) + 1); /* avro-c counts the NUL */
    assert_memory_equal(s, want, strlen(want));
}

static void expect_avro_str(avro_ctx *c, const char *name, const char *want)
{
    avro_value_t f = field(c, name);
    expect_avro_str_v(&f, want);
}

static void expect_avro_long(avro_ctx *c, const char *name, int64_t want)
{
    avro_value_t f = field(c, name);
    int64_t got = 0;
    assert_int_equal(avro_value_get_long(&f, &got), 0);
    assert_int_equal(got, want);
}

static double get_double(avro_ctx *c, const char *name)
{
    avro_value_t f = field(c, name);
    double d = 0;
    assert_int_equal(avro_value_get_double(&f, &d), 0);
    return d;
}

/* A ["null", T] union: returns 1 and the branch if non-null, 0 if null. */
static int get_opt(avro_ctx *c, const char *name, avro_value_t *branch)
{
    avro_value_t f = field(c, name);
    int disc = -1;
    assert_int_equal(avro_value_get_discriminant(&f, &disc), 0);
    assert_int_equal(avro_value_get_current_branch(&f, branch), 0);
    if (disc == 0) {
        assert_int_equal(avro_value_get_type(branch), AVRO_NULL);
        return 0;
    }
    assert_int_equal(disc, 1);
    return 1;
}

static size_t encode_avro(const tl_alert *a, uint8_t *buf, size_t cap)
{
    size_t n = tl_alert_encode_avro(a, buf, cap);
    assert_true(n > 0);
    return n;
}

static void test_alert_encode_avro_fields(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    uint8_t buf[8192];
    size_t n = encode_avro(&a, buf, sizeof buf);
    avro_ctx c;
    avro_ctx_read(&c, buf, n);

    expect_avro_str(&c, "alert", "ToolErrorRate");
    avro_value_t f = field(&c, "state");
    int e = -1;
    assert_int_equal(avro_value_get_enum(&f, &e), 0);
    assert_int_equal(e, 0);
    assert_string_equal(avro_schema_enum_get(avro_value_get_schema(&f), e), "firing");
    expect_avro_long(&c, "timestamp", TS_MS);
    avro_value_t b;
    assert_int_equal(get_opt(&c, "service", &b), 1);
    expect_avro_str_v(&b, "support-bot");
    assert_int_equal(get_opt(&c, "tool", &b), 1);
    expect_avro_str_v(&b, "get_order_status");
    expect_avro_str(&c, "metric", "ratio(status == \"error\")");
    assert_true(get_double(&c, "value") == 0.234);
    expect_avro_str(&c, "value_text", "23.4%");
    assert_true(get_double(&c, "threshold") == 0.1);
    expect_avro_str(&c, "threshold_text", "> 10%");
    expect_avro_str(&c, "unit", "ratio");
    expect_avro_str(&c, "window", "10m");
    expect_avro_long(&c, "window_ms", 600000);
    expect_avro_str(&c, "severity", "critical");
    expect_avro_str(&c, "owner", "team-support");
    expect_avro_str(&c, "runbook", "https://runbooks.example/tool-errors");
    expect_avro_str(&c, "summary", k_summary);
    assert_int_equal(get_opt(&c, "description", &b), 0);
    expect_avro_str(&c, "fingerprint", "0123456789abcdef");
    expect_avro_str(&c, "transition_id", "0123456789abcdef0011223344556677");
    expect_avro_long(&c, "starts_at", STARTS_MS);
    assert_int_equal(get_opt(&c, "ends_at", &b), 0);

    avro_value_t m = field(&c, "labels");
    size_t sz = 0;
    assert_int_equal(avro_value_get_size(&m, &sz), 0);
    assert_int_equal(sz, 4);
    static const char *const keys[] = {"service", "tool", "region", "team\xc3\xa9"};
    const char *vals[] = {"support-bot", "get_order_status", k_region, k_team};
    for (size_t i = 0; i < 4; i++) {
        avro_value_t v;
        const char *key = NULL;
        assert_int_equal(avro_value_get_by_index(&m, i, &v, &key), 0);
        assert_string_equal(key, keys[i]);
        expect_avro_str_v(&v, vals[i]);
    }

    avro_value_t arr = field(&c, "exemplar_trace_ids");
    assert_int_equal(avro_value_get_size(&arr, &sz), 0);
    assert_int_equal(sz, 2);
    avro_value_t it;
    assert_int_equal(avro_value_get_by_index(&arr, 0, &it, NULL), 0);
    expect_avro_str_v(&it, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(avro_value_get_by_index(&arr, 1, &it, NULL), 0);
    expect_avro_str_v(&it, "00f067aa0ba902b7");
    avro_value_t rs = field(&c, "resend");
    int32_t resend = -1;
    assert_int_equal(avro_value_get_int(&rs, &resend), 0);
    assert_int_equal(resend, 0);
    avro_ctx_fini(&c);
}

static void test_alert_encode_avro_resolved_nan_and_nulls(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    a.state = TL_ALERT_RESOLVED;
    a.ends_at_ms = ENDS_MS;
    a.value = NAN; /* plain double in Avro: NaN is legal */
    a.threshold = -2.5;
    a.unit = TL_UNIT_USD;
    a.op = "<=";
    a.window_ms = 5400000;
    a.service = NULL;
    a.tool = NULL;
    a.owner = NULL;
    a.description = "see \"runbook\"";
    a.timestamp_ms = -1; /* negative longs zig-zag correctly */
    a.n_labels = 0;
    a.n_exemplars = 0;
    a.resend = 300; /* a two-byte varint */
    uint8_t buf[8192];
    size_t n = encode_avro(&a, buf, sizeof buf);
    avro_ctx c;
    avro_ctx_read(&c, buf, n);
    avro_value_t f = field(&c, "state");
    int e = -1;
    assert_int_equal(avro_value_get_enum(&f, &e), 0);
    assert_int_equal(e, 1);
    expect_avro_long(&c, "timestamp", -1);
    assert_true(isnan(get_double(&c, "value")));
    expect_avro_str(&c, "value_text", "n/a");
    assert_true(get_double(&c, "threshold") == -2.5);
    expect_avro_str(&c, "threshold_text", "<= -$2.50");
    expect_avro_str(&c, "unit", "usd");
    expect_avro_str(&c, "window", "1h30m");
    expect_avro_long(&c, "window_ms", 5400000);
    expect_avro_str(&c, "owner", "");
    avro_value_t b;
    assert_int_equal(get_opt(&c, "service", &b), 0);
    assert_int_equal(get_opt(&c, "tool", &b), 0);
    assert_int_equal(get_opt(&c, "description", &b), 1);
    expect_avro_str_v(&b, "see \"runbook\"");
    assert_int_equal(get_opt(&c, "ends_at", &b), 1);
    int64_t ends = 0;
    assert_int_equal(avro_value_get_long(&b, &ends), 0);
    assert_int_equal(ends, ENDS_MS);
    size_t sz = 99;
    avro_value_t m = field(&c, "labels");
    assert_int_equal(avro_value_get_size(&m, &sz), 0);
    assert_int_equal(sz, 0);
    avro_value_t arr = field(&c, "exemplar_trace_ids");
    assert_int_equal(avro_value_get_size(&arr, &sz), 0);
    assert_int_equal(sz, 0);
    avro_value_t rs = field(&c, "resend");
    int32_t resend = -1;
    assert_int_equal(avro_value_get_int(&rs, &resend), 0);
    assert_int_equal(resend, 300);
    avro_ctx_fini(&c);
}

static void test_alert_encode_avro_skips_null_label_keys(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    a.label_key[0] = NULL;
    a.label_val[3] = NULL;
    a.exemplar_trace_ids[0] = NULL;
    uint8_t buf[8192];
    size_t n = encode_avro(&a, buf, sizeof buf);
    avro_ctx c;
    avro_ctx_read(&c, buf, n);
    avro_value_t m = field(&c, "labels");
    size_t sz = 0;
    assert_int_equal(avro_value_get_size(&m, &sz), 0);
    assert_int_equal(sz, 3);
    avro_value_t v;
    assert_int_not_equal(avro_value_get_by_name(&m, "service", &v, NULL), 0);
    assert_int_equal(avro_value_get_by_name(&m, "team\xc3\xa9", &v, NULL), 0);
    expect_avro_str_v(&v, "");
    avro_value_t arr = field(&c, "exemplar_trace_ids");
    assert_int_equal(avro_value_get_size(&arr, &sz), 0);
    assert_int_equal(sz, 1);
    avro_ctx_fini(&c);
}

static void test_alert_encode_avro_every_cap(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    uint8_t ref[8192];
    size_t need = tl_alert_encode_avro(&a, ref, sizeof ref);
    assert_true(need > 0);
    uint8_t *buf = malloc(need + 64);
    assert_non_null(buf);
    for (size_t cap = 0; cap <= need; cap++) {
        memset(buf, 0x5a, need + 64);
        size_t n = tl_alert_encode_avro(&a, buf, cap);
        for (size_t i = cap; i < need + 64; i++)
            if (buf[i] != 0x5a)
                fail_msg("cap %zu: byte %zu written", cap, i);
        if (cap < need) {
            assert_int_equal(n, 0);
        } else {
            assert_int_equal(n, need);
            assert_memory_equal(buf, ref, need);
        }
    }
    free(buf);
}

/* Schema evolution: `resend` was added last, with a default. A reader that still has the
 * previous schema (the same minus `resend`) resolves new events field by field, and events
 * written with the previous schema are exactly the new encoding without its last byte (a
 * resend of 0 is the single byte 0x00). */
static void test_alert_encode_avro_previous_schema_reads_it(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *js = json_loads(tl_alert_event_schema_json, 0, &jerr);
    assert_non_null(js);
    json_t *fields = json_object_get(js, "fields");
    size_t nf = json_array_size(fields);
    json_t *last = json_array_get(fields, nf - 1);
    assert_string_equal(json_string_value(json_object_get(last, "name")), "resend");
    assert_true(json_integer_value(json_object_get(last, "default")) == 0 &&
                json_is_integer(json_object_get(last, "default")));
    json_array_remove(fields, nf - 1);
    char *old_json = json_dumps(js, JSON_COMPACT);
    json_decref(js);
    avro_schema_t old_schema, new_schema;
    assert_int_equal(avro_schema_from_json_length(old_json, strlen(old_json), &old_schema), 0);
    assert_int_equal(avro_schema_from_json_length(tl_alert_event_schema_json, strlen(tl_alert_event_schema_json),
                                                  &new_schema), 0);
    free(old_json);

    tl_alert a = make_alert();
    a.resend = 2;
    uint8_t buf[8192];
    size_t n = encode_avro(&a, buf, sizeof buf);
    avro_value_iface_t *oiface = avro_generic_class_from_schema(old_schema);
    avro_value_t ov, resolved;
    assert_int_equal(avro_generic_value_new(oiface, &ov), 0);
    avro_value_iface_t *res = avro_resolved_writer_new(new_schema, old_schema);
    if (!res)
        fail_msg("resolving the new schema to the previous one: %s", avro_strerror());
    assert_int_equal(avro_resolved_writer_new_value(res, &resolved), 0);
    avro_resolved_writer_set_dest(&resolved, &ov);
    avro_reader_t r = avro_reader_memory((const char *)buf, (int64_t)n);
    assert_int_equal(avro_value_read(r, &resolved), 0);
    avro_reader_free(r);
    avro_value_t f;
    const char *str = NULL;
    size_t sz = 0;
    assert_int_equal(avro_value_get_by_name(&ov, "transition_id", &f, NULL), 0);
    assert_int_equal(avro_value_get_string(&f, &str, &sz), 0);
    assert_string_equal(str, "0123456789abcdef0011223344556677");
    assert_int_equal(avro_value_get_by_name(&ov, "exemplar_trace_ids", &f, NULL), 0);
    assert_int_equal(avro_value_get_size(&f, &sz), 0);
    assert_int_equal(sz, 2);
    assert_int_not_equal(avro_value_get_by_name(&ov, "resend", &f, NULL), 0); /* not in its schema */
    /* written by the previous version: the same bytes without the trailing resend */
    a.resend = 0;
    size_t m = encode_avro(&a, buf, sizeof buf);
    assert_int_equal(buf[m - 1], 0);
    avro_value_t ov2;
    assert_int_equal(avro_generic_value_new(oiface, &ov2), 0);
    r = avro_reader_memory((const char *)buf, (int64_t)(m - 1));
    assert_int_equal(avro_value_read(r, &ov2), 0);
    char extra;
    assert_int_not_equal(avro_read(r, &extra, 1), 0); /* every byte consumed */
    avro_reader_free(r);
    assert_true(avro_value_equal(&ov, &ov2));
    avro_value_decref(&ov2);
    avro_value_decref(&resolved);
    avro_value_iface_decref(res);
    avro_value_decref(&ov);
    avro_value_iface_decref(oiface);
    avro_schema_decref(old_schema);
    avro_schema_decref(new_schema);
}

/* ---------------------------------------------------------------- console line */

static void test_alert_format_line_header_example(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    a.n_labels = 2;
    a.summary = "summary";
    char out[512];
    size_t n = tl_alert_format_line(&a, out, sizeof out);
    const char *want = "FIRING   critical  ToolErrorRate  service=support-bot "
                       "tool=get_order_status  value=23.4% > 10% (10m)  -- summary";
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));

    a.state = TL_ALERT_RESOLVED;
    a.severity = "info";
    a.n_labels = 0;
    a.summary = NULL;
    a.value = 0.05;
    n = tl_alert_format_line(&a, out, sizeof out);
    assert_string_equal(out, "RESOLVED info      ToolErrorRate  value=5% > 10% (10m)");
    assert_int_equal(n, strlen(out));

    a.resend = 2; /* a re-send says so */
    a.summary = "s";
    n = tl_alert_format_line(&a, out, sizeof out);
    assert_string_equal(out, "RESOLVED info      ToolErrorRate  value=5% > 10% (10m)  [resend 2]  -- s");
    assert_int_equal(n, strlen(out));
}

static void test_alert_format_line_strips_control_characters(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    a.alert = "Rule\x1b[2J";
    a.summary = "line1\nline2\r\x07\x7f ok";
    a.n_labels = 1;
    a.label_key[0] = "k\t";
    a.label_val[0] = "v\x1b]0;title\x07x";
    char out[512];
    size_t n = tl_alert_format_line(&a, out, sizeof out);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)out[i];
        assert_true(ch >= 0x20 && ch != 0x7f);
    }
    assert_non_null(strstr(out, "Rule[2J  k=v]0;titlex  value="));
    assert_non_null(strstr(out, "-- line1line2 ok"));
}

/* C1 controls (U+0080..U+009F; U+009B is CSI, which drives terminals as ESC [ does) are
 * dropped, and bytes that are not UTF-8 are shown as '?': the line is valid UTF-8. */
static void test_alert_format_line_strips_c1_and_invalid_utf8(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    a.n_labels = 1;
    a.label_key[0] = "tool";
    a.label_val[0] = "a\xc2\x9b" "31mb\xc2\x85" "c\xc2\xa0" "d";
    a.summary = "caf\xe9 \xe2\x82 \xed\xa0\x80 ok \xe2\x82\xac";
    char out[512];
    size_t n = tl_alert_format_line(&a, out, sizeof out);
    assert_int_equal(n, strlen(out));
    assert_non_null(strstr(out, "tool=a31mbc\xc2\xa0" "d  value=")); /* NBSP is kept */
    assert_non_null(strstr(out, "-- caf? ?? ??? ok \xe2\x82\xac"));
    json_t *j = json_string(out); /* jansson accepts only valid UTF-8 */
    assert_non_null(j);
    json_decref(j);
}

static void test_alert_format_line_truncates_on_utf8_boundary(void **state)
{
    (void)state;
    tl_alert a = make_alert();
    a.n_labels = 0;
    a.summary = "\xc3\xa9\xc3\xa9\xc3\xa9";
    char full[512];
    size_t full_n = tl_alert_format_line(&a, full, sizeof full);
    size_t first_e = full_n - 6; /* the three 2-byte characters are last */
    char out[512];
    memset(out, 'X', sizeof out);
    assert_int_equal(tl_alert_format_line(&a, out, 0), 0);
    assert_int_equal(out[0], 'X');
    for (size_t cap = 1; cap <= full_n + 1; cap++) {
        memset(out, 'X', sizeof out);
        size_t n = tl_alert_format_line(&a, out, cap);
        assert_true(n < cap);
        assert_int_equal(out[n], '\0');
        assert_int_equal(out[cap], 'X');
        assert_memory_equal(out, full, n);
        if (n > first_e)
            assert_int_equal((n - first_e) % 2, 0); /* never half a character */
        assert_true(n + 1 >= cap - 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alert_encode_json_fields),
        cmocka_unit_test(test_alert_encode_json_escapes_raw_text),
        cmocka_unit_test(test_alert_encode_json_invalid_utf8_replaced),
        cmocka_unit_test(test_alert_encode_json_nan_inf_are_null),
        cmocka_unit_test(test_alert_encode_json_resolved_and_nulls),
        cmocka_unit_test(test_alert_encode_json_skips_null_label_keys_and_clamps),
        cmocka_unit_test(test_alert_encode_json_every_cap),
        cmocka_unit_test(test_alert_encode_avro_fields),
        cmocka_unit_test(test_alert_encode_avro_resolved_nan_and_nulls),
        cmocka_unit_test(test_alert_encode_avro_skips_null_label_keys),
        cmocka_unit_test(test_alert_encode_avro_every_cap),
        cmocka_unit_test(test_alert_encode_avro_previous_schema_reads_it),
        cmocka_unit_test(test_alert_format_line_header_example),
        cmocka_unit_test(test_alert_format_line_strips_control_characters),
        cmocka_unit_test(test_alert_format_line_strips_c1_and_invalid_utf8),
        cmocka_unit_test(test_alert_format_line_truncates_on_utf8_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
