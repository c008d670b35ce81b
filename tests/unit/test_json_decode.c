/* tests/unit/test_json_decode.c - JSON trace-event decoder and encoder (engine/json_decode.c,
 * engine/json_encode.c): field mapping, escapes, numbers against strtod as the reference,
 * random encode/decode round trips, and a table of malformed inputs with their exact codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "json_decode.h"
#include "json_encode.h"
#include "tl_test.h"

static char scratch_buf[1 << 16];
static char *msg_copy; /* the last decoded message; events point into it */

static tl_json_scratch new_scratch(void) { return (tl_json_scratch){scratch_buf, sizeof scratch_buf, 0}; }

/* Decodes `msg` from an exact-size heap copy so that ASan flags any read past the end. */
static int decode(const char *msg, size_t len, tl_event *ev, tl_decode_err *err)
{
    tl_json_scratch sc = new_scratch();
    free(msg_copy);
    msg_copy = malloc(len ? len : 1);
    memcpy(msg_copy, msg, len);
    memset(err, 0, sizeof *err);
    return tl_json_decode(msg_copy, len, ev, &sc, err);
}

static int decode_s(const char *msg, tl_event *ev, tl_decode_err *err)
{
    return decode(msg, strlen(msg), ev, err);
}

static void assert_str(tl_str s, const char *want)
{
    if (s.n != strlen(want) || memcmp(s.p, want, s.n) != 0)
        fail_msg("got '%.*s', want '%s'", (int)s.n, s.p ? s.p : "", want);
}

static tl_event ev_, ev2_;

static void test_json_decode_full_event(void **state)
{
    (void)state;
    const char *msg =
        " {\"timestamp\":\"2026-11-27T17:42:18.123Z\",\"trace_id\":\"t1\",\"span_id\":\"s1\","
        "\"parent_span_id\":\"p1\",\"service\":\"checkout-agent\",\"kind\":\"tool_call\","
        "\"tool\":\"search\",\"model\":\"gpt-x\",\"provider\":\"openai\",\"prompt_version\":\"v7\","
        "\"model_version\":\"2026-01\",\"status\":\"error\",\"error_type\":\"timeout\","
        "\"latency_ms\":1234.5,\"input_tokens\":812,\"output_tokens\":96,\"cost_usd\":0.00231,"
        "\"score\":-0.25,\"flags\":[\"retry\",\"refusal\"],"
        "\"attributes\":{\"region\":\"eu\",\"n\":42,\"ok\":true,\"none\":null,\"obj\":{\"a\":[1,2]}}}\n";
    tl_event *ev = &ev_;
    tl_decode_err err;
    assert_int_equal(decode_s(msg, ev, &err), 0);
    assert_int_equal(ev->ts_ms, INT64_C(1795801338123));
    assert_int_equal(ev->str_present, (1u << TL_S__COUNT) - 1);
    assert_int_equal(ev->num_present, (1u << TL_N__COUNT) - 1);
    assert_str(ev->str[TL_S_TRACE_ID], "t1");
    assert_str(ev->str[TL_S_SPAN_ID], "s1");
    assert_str(ev->str[TL_S_PARENT_SPAN_ID], "p1");
    assert_str(ev->str[TL_S_SERVICE], "checkout-agent");
    assert_str(ev->str[TL_S_KIND], "tool_call");
    assert_str(ev->str[TL_S_TOOL], "search");
    assert_str(ev->str[TL_S_MODEL], "gpt-x");
    assert_str(ev->str[TL_S_PROVIDER], "openai");
    assert_str(ev->str[TL_S_PROMPT_VERSION], "v7");
    assert_str(ev->str[TL_S_MODEL_VERSION], "2026-01");
    assert_str(ev->str[TL_S_STATUS], "error");
    assert_str(ev->str[TL_S_ERROR_TYPE], "timeout");
    assert_true(ev->num[TL_N_LATENCY_MS] == 1234.5);
    assert_true(ev->num[TL_N_INPUT_TOKENS] == 812);
    assert_true(ev->num[TL_N_OUTPUT_TOKENS] == 96);
    assert_true(ev->num[TL_N_COST_USD] == 0.00231);
    assert_true(ev->num[TL_N_SCORE] == -0.25);
    assert_int_equal(ev->n_flags, 2);
    assert_str(ev->flags[0], "retry");
    assert_str(ev->flags[1], "refusal");
    assert_int_equal(ev->n_attrs, 5);
    assert_str(ev->attr_key[0], "region");
    assert_str(ev->attr_val[0], "eu");
    assert_str(ev->attr_val[1], "42");
    assert_str(ev->attr_val[2], "true");
    assert_str(ev->attr_val[3], "null");
    assert_str(ev->attr_key[4], "obj");
    assert_str(ev->attr_val[4], "{\"a\":[1,2]}");
}

static void test_json_decode_minimal_and_nulls(void **state)
{
    (void)state;
    tl_event *ev = &ev_;
    tl_decode_err err;
    assert_int_equal(decode_s("{\"timestamp\":1700000000000}", ev, &err), 0);
    assert_int_equal(ev->ts_ms, INT64_C(1700000000000));
    assert_int_equal(ev->str_present, 0);
    assert_int_equal(ev->num_present, 0);
    assert_int_equal(ev->n_flags, 0);
    assert_int_equal(ev->n_attrs, 0);

    /* null means absent; a later null clears an earlier value (last key wins). */
    assert_int_equal(decode_s("{\"service\":\"a\",\"tool\":null,\"latency_ms\":5,\"score\":null,"
                              "\"flags\":null,\"attributes\":null,\"timestamp\":1,\"service\":null,"
                              "\"latency_ms\":null}",
                              ev, &err),
                     0);
    assert_int_equal(ev->str_present, 0);
    assert_int_equal(ev->num_present, 0);

    /* Duplicates: last one wins, including flags and attributes as a whole. */
    assert_int_equal(decode_s("{\"timestamp\":5,\"status\":\"ok\",\"status\":\"error\",\"timestamp\":7,"
                              "\"flags\":[\"a\",\"b\"],\"flags\":[\"c\"],\"attributes\":{\"x\":\"1\"},"
                              "\"attributes\":{}}",
                              ev, &err),
                     0);
    assert_int_equal(ev->ts_ms, 7);
    assert_str(ev->str[TL_S_STATUS], "error");
    assert_int_equal(ev->n_flags, 1);
    assert_str(ev->flags[0], "c");
    assert_int_equal(ev->n_attrs, 0);

    /* Whitespace everywhere JSON allows it; unknown keys of every type are skipped. */
    assert_int_equal(decode_s(" \t\r\n{ \"x\" : [ 1 , { \"y\" : [ ] } , \"z\" , -0.5e-3 , true , false , null ] ,"
                              "\n\"timestamp\" :\t1 , \"kind\" : \"k\" , \"u\" : { } } \n",
                              ev, &err),
                     0);
    assert_int_equal(ev->ts_ms, 1);
    assert_str(ev->str[TL_S_KIND], "k");
}

static void test_json_decode_timestamp_forms(void **state)
{
    (void)state;
    tl_event *ev = &ev_;
    tl_decode_err err;
    static const struct {
        const char *ts;
        int64_t want;
    } cases[] = {
        {"1700000000000", INT64_C(1700000000000)},
        {"1700000000000.9", INT64_C(1700000000000)}, /* fraction of a ms truncated */
        {"1700000000000.99999999999999999", INT64_C(1700000000000)},
        {"0", 0},
        {"1.7e12", INT64_C(1700000000000)},
        {"253402300799999", INT64_C(253402300799999)},
        {"\"2026-11-27T19:42:18.123+02:00\"", INT64_C(1795801338123)},
        {"\"1970-01-01T00:00:00Z\"", 0},
        {"\"\\u0032026-11-27T17:42:18.123Z\"", INT64_C(1795801338123)}, /* escaped digit */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[128];
        snprintf(msg, sizeof msg, "{\"timestamp\":%s}", cases[i].ts);
        if (decode_s(msg, ev, &err) != 0)
            fail_msg("%s: %s %s", msg, tl_decode_code_name(err.code), err.detail);
        assert_int_equal(ev->ts_ms, cases[i].want);
    }
}

static void test_json_decode_escapes_to_utf8(void **state)
{
    (void)state;
    tl_event *ev = &ev_;
    tl_decode_err err;
    const char *msg = "{\"timestamp\":1,\"tool\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\","
                      "\"model\":\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\u0000z\","
                      "\"status\":\"caf\xc3\xa9\","
                      "\"flags\":[\"x\\ty\"],\"attributes\":{\"k\\u0065y\":\"v\\nal\"},"
                      "\"\\u0073ervice\":\"escaped-key\"}";
    assert_int_equal(decode_s(msg, ev, &err), 0);
    assert_str(ev->str[TL_S_TOOL], "a\"b\\c/d\b\f\n\r\t");
    tl_str m = ev->str[TL_S_MODEL];
    static const char want_model[] = "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z";
    assert_int_equal(m.n, sizeof want_model - 1);
    assert_memory_equal(m.p, want_model, m.n);
    assert_str(ev->str[TL_S_STATUS], "caf\xc3\xa9"); /* raw UTF-8 passes through */
    assert_str(ev->flags[0], "x\ty");
    assert_str(ev->attr_key[0], "key");
    assert_str(ev->attr_val[0], "v\nal");
    assert_str(ev->str[TL_S_SERVICE], "escaped-key"); /* escaped key still matches */
    /* Plain strings are views into the message, escaped ones live in the scratch. */
    assert_true(ev->str[TL_S_TOOL].p >= scratch_buf && ev->str[TL_S_TOOL].p < scratch_buf + sizeof scratch_buf);
    assert_false(ev->str[TL_S_STATUS].p >= scratch_buf && ev->str[TL_S_STATUS].p < scratch_buf + sizeof scratch_buf);
}

static void test_json_decode_scratch_full(void **state)
{
    (void)state;
    tl_event *ev = &ev_;
    tl_decode_err err;
    const char *msg = "{\"timestamp\":1,\"tool\":\"abc\\ndef\",\"model\":\"plain\"}";
    char small[8];
    tl_json_scratch sc = {small, sizeof small, 0};
    assert_int_equal(tl_json_decode(msg, strlen(msg), ev, &sc, &err), 0); /* 7 bytes fit */
    assert_str(ev->str[TL_S_TOOL], "abc\ndef");
    sc.cap = 6;
    assert_int_equal(tl_json_decode(msg, strlen(msg), ev, &sc, &err), -1);
    assert_int_equal(err.code, TL_DECODE_SCRATCH_FULL);
    /* No scratch at all: fine until an escape needs one. */
    assert_int_equal(tl_json_decode(msg + 0, 15, ev, NULL, &err), -1);
    assert_int_equal(err.code, TL_DECODE_TRUNCATED);
    assert_int_equal(tl_json_decode(msg, strlen(msg), ev, NULL, &err), -1);
    assert_int_equal(err.code, TL_DECODE_SCRATCH_FULL);
    const char *plain = "{\"timestamp\":1,\"tool\":\"abc\"}";
    assert_int_equal(tl_json_decode(plain, strlen(plain), ev, NULL, &err), 0);
    /* The scratch is reset by each call: many decodes never fill it up. */
    sc.cap = sizeof small;
    for (int i = 0; i < 100; i++)
        assert_int_equal(tl_json_decode(msg, strlen(msg), ev, &sc, &err), 0);
    /* A NULL err is allowed. */
    assert_int_equal(tl_json_decode("[]", 2, ev, &sc, NULL), -1);
}

/* Numbers: every literal form decodes to exactly what strtod gives (the reference). */
static void test_json_decode_numbers_match_strtod(void **state)
{
    (void)state;
    tl_event *ev = &ev_;
    tl_decode_err err;
    tl_test_rng rng = {99};
    static const char *fixed[] = {
        "0", "-0", "1", "-1", "0.1", "0.3", "123.456", "1e22", "1e23", "9007199254740993",
        "9007199254740992", "18446744073709551615", "123456789012345678901234567890",
        "0.000000000000000000000000001", "1.7976931348623157e308", "4.9e-324", "2.2250738585072014e-308",
        "1E5", "1e+5", "1e-5", "0.1e1", "100000000000000000000000e-10", "3.141592653589793238462643383279",
        "0.00000000000000000000000000000000000000000000000000000000000000000001", "1e-400",
    };
    char lit[64], msg[128];
    for (int i = 0; i < 30000; i++) {
        if (i < (int)(sizeof fixed / sizeof fixed[0])) {
            snprintf(lit, sizeof lit, "%s", fixed[i]);
        } else {
            switch (tl_test_rand(&rng) % 4) {
            case 0: /* integer */
                snprintf(lit, sizeof lit, "%lld", (long long)(tl_test_rand(&rng) >> (tl_test_rand(&rng) % 64)) * (i % 2 ? 1 : -1));
                break;
            case 1: /* simple decimal */
                snprintf(lit, sizeof lit, "%.*f", (int)(tl_test_rand(&rng) % 10),
                         tl_test_rand01(&rng) * 1e6);
                break;
            case 2: { /* any finite double, shortest-ish */
                double d;
                uint64_t bits = tl_test_rand(&rng);
                memcpy(&d, &bits, sizeof d);
                if (d != d || d - d != 0)
                    d = 1.5;
                snprintf(lit, sizeof lit, "%.*g", (int)(1 + tl_test_rand(&rng) % 17), d);
                break;
            }
            default: /* mantissa and exponent */
                snprintf(lit, sizeof lit, "%llue%d", (unsigned long long)(tl_test_rand(&rng) % 100000000),
                         (int)(tl_test_rand(&rng) % 80) - 40);
            }
        }
        snprintf(msg, sizeof msg, "{\"timestamp\":1,\"latency_ms\":%s}", lit);
        if (decode_s(msg, ev, &err) != 0)
            fail_msg("%s: %s", lit, tl_decode_code_name(err.code));
        double want = strtod(lit, NULL);
        if (!(ev->num[TL_N_LATENCY_MS] == want))
            fail_msg("%s: got %.17g, want %.17g", lit, ev->num[TL_N_LATENCY_MS], want);
    }
}

/* One malformed input and the exact code (and, where given, offset) it must produce. */
typedef struct bad_case {
    const char *json;
    tl_decode_code code;
    int offset; /* -1: not checked */
} bad_case;

#define TS "{\"timestamp\":1700000000000," /* 27 bytes */

static const bad_case bad_cases[] = {
    /* empty and not an object */
    {"", TL_DECODE_EMPTY, 0},
    {" \n\t ", TL_DECODE_EMPTY, 4},
    {"[1,2]", TL_DECODE_NOT_OBJECT, 0},
    {"  [{\"timestamp\":1}]", TL_DECODE_NOT_OBJECT, 2},
    {"\"str\"", TL_DECODE_NOT_OBJECT, 0},
    {"42", TL_DECODE_NOT_OBJECT, 0},
    {"null", TL_DECODE_NOT_OBJECT, 0},
    {"x", TL_DECODE_JSON_SYNTAX, 0},
    /* truncated */
    {"{", TL_DECODE_TRUNCATED, 1},
    {"{\"timestamp\":1700000000000", TL_DECODE_TRUNCATED, 26},
    {TS, TL_DECODE_TRUNCATED, 27},
    {"{\"timestamp\":", TL_DECODE_TRUNCATED, 13},
    {"{\"timestamp\"", TL_DECODE_TRUNCATED, 12},
    {TS "\"x\":tru", TL_DECODE_TRUNCATED, 34},
    {TS "\"x\":[1,2", TL_DECODE_TRUNCATED, 35},
    {TS "\"x\":{\"a\":{", TL_DECODE_TRUNCATED, 37},
    {TS "\"latency_ms\":-", TL_DECODE_TRUNCATED, 41},
    {TS "\"latency_ms\":1.", TL_DECODE_TRUNCATED, 42},
    {TS "\"latency_ms\":1e+", TL_DECODE_TRUNCATED, 43},
    /* unterminated strings */
    {"{\"timest", TL_DECODE_TRUNCATED, 8},
    {TS "\"service\":\"ab", TL_DECODE_TRUNCATED, 40},
    {"{\"timestamp\":\"2026-11-27T17:42:18Z}", TL_DECODE_TRUNCATED, 35},
    {TS "\"service\":\"ab\\", TL_DECODE_TRUNCATED, 41},
    {TS "\"service\":\"ab\\u00", TL_DECODE_TRUNCATED, 44},
    {TS "\"x\":\"ab", TL_DECODE_TRUNCATED, 34},
    /* bad syntax */
    {"{timestamp:1}", TL_DECODE_JSON_SYNTAX, 1},
    {"{'timestamp':1}", TL_DECODE_JSON_SYNTAX, 1},
    {TS "}", TL_DECODE_JSON_SYNTAX, 27},
    {"{\"timestamp\" 1700000000000}", TL_DECODE_JSON_SYNTAX, 13},
    {"{\"timestamp\":1700000000000 \"a\":1}", TL_DECODE_JSON_SYNTAX, 27},
    {"{\"timestamp\":01}", TL_DECODE_JSON_SYNTAX, 14},
    {TS "\"x\":NaN}", TL_DECODE_JSON_SYNTAX, 31},
    {TS "\"latency_ms\":NaN}", TL_DECODE_JSON_SYNTAX, 40},
    {TS "\"latency_ms\":Infinity}", TL_DECODE_JSON_SYNTAX, 40},
    {TS "\"latency_ms\":-Infinity}", TL_DECODE_JSON_SYNTAX, 41},
    {TS "\"x\":1.}", TL_DECODE_JSON_SYNTAX, 33},
    {TS "\"x\":.5}", TL_DECODE_JSON_SYNTAX, 31},
    {TS "\"x\":1e}", TL_DECODE_JSON_SYNTAX, 33},
    {TS "\"x\":+1}", TL_DECODE_JSON_SYNTAX, 31},
    {TS "\"x\":0x10}", TL_DECODE_JSON_SYNTAX, 32},
    {TS "\"x\":[1,]}", TL_DECODE_JSON_SYNTAX, 34},
    {TS "\"x\":{\"a\"}}", TL_DECODE_JSON_SYNTAX, 35},
    {TS "\"x\":{\"a\":1,}}", TL_DECODE_JSON_SYNTAX, 38},
    {TS "\"x\":{1:2}}", TL_DECODE_JSON_SYNTAX, 32},
    {TS "\"x\":truex}", TL_DECODE_JSON_SYNTAX, 35},
    {TS "\"x\":nul}", TL_DECODE_JSON_SYNTAX, 31},
    {TS "\"x\":[1 2]}", TL_DECODE_JSON_SYNTAX, 34},
    {TS "\"service\":\"a\nb\"}", TL_DECODE_JSON_SYNTAX, 39},
    {TS "\"x\":\"a\tb\"}", TL_DECODE_JSON_SYNTAX, 33},
    {TS "\"flags\":[\"a\",]}", TL_DECODE_JSON_SYNTAX, 40},
    {TS "\"attributes\":{\"a\" \"b\"}}", TL_DECODE_JSON_SYNTAX, 45},
    /* bad escapes */
    {TS "\"service\":\"a\\qb\"}", TL_DECODE_JSON_SYNTAX, 39},
    {TS "\"service\":\"\\x41\"}", TL_DECODE_JSON_SYNTAX, 38},
    {TS "\"service\":\"\\u12G4\"}", TL_DECODE_JSON_SYNTAX, 38},
    {TS "\"x\":\"\\u12\"}", TL_DECODE_JSON_SYNTAX, 32},
    {TS "\"attributes\":{\"k\\a\":\"v\"}}", TL_DECODE_JSON_SYNTAX, 43},
    /* invalid \u surrogates */
    {TS "\"service\":\"\\ud800\"}", TL_DECODE_JSON_SYNTAX, 38},
    {TS "\"service\":\"\\udc00\"}", TL_DECODE_JSON_SYNTAX, 38},
    {TS "\"service\":\"\\ud800\\u0041\"}", TL_DECODE_JSON_SYNTAX, 38},
    {TS "\"service\":\"\\ud800\\ud800\"}", TL_DECODE_JSON_SYNTAX, 38},
    {TS "\"service\":\"\\uDBFFx\"}", TL_DECODE_JSON_SYNTAX, 38},
    {TS "\"x\":\"\\udfff\"}", TL_DECODE_JSON_SYNTAX, 32},
    {TS "\"\\ud800\":1}", TL_DECODE_JSON_SYNTAX, 28},
    /* wrong types */
    {TS "\"service\":12}", TL_DECODE_BAD_TYPE, 37},
    {TS "\"service\":true}", TL_DECODE_BAD_TYPE, 37},
    {TS "\"service\":{}}", TL_DECODE_BAD_TYPE, 37},
    {TS "\"service\":[\"a\"]}", TL_DECODE_BAD_TYPE, 37},
    {TS "\"latency_ms\":\"12\"}", TL_DECODE_BAD_TYPE, 40},
    {TS "\"latency_ms\":[1]}", TL_DECODE_BAD_TYPE, 40},
    {TS "\"input_tokens\":true}", TL_DECODE_BAD_TYPE, 42},
    {TS "\"latency_ms\":1e400}", TL_DECODE_BAD_TYPE, 40},
    {TS "\"flags\":\"retry\"}", TL_DECODE_BAD_TYPE, 35},
    {TS "\"flags\":{}}", TL_DECODE_BAD_TYPE, 35},
    {TS "\"flags\":[\"a\",1]}", TL_DECODE_BAD_TYPE, 40},
    {TS "\"flags\":[null]}", TL_DECODE_BAD_TYPE, 36},
    {TS "\"flags\":[[\"a\"]]}", TL_DECODE_BAD_TYPE, 36},
    {TS "\"attributes\":[]}", TL_DECODE_BAD_TYPE, 40},
    {TS "\"attributes\":\"a=b\"}", TL_DECODE_BAD_TYPE, 40},
    /* missing timestamp */
    {"{}", TL_DECODE_MISSING_TIMESTAMP, 1},
    {"{\"service\":\"a\"}", TL_DECODE_MISSING_TIMESTAMP, 14},
    {"{\"timestamp\":null}", TL_DECODE_MISSING_TIMESTAMP, 17},
    {"{\"timestamp\":1,\"timestamp\":null}", TL_DECODE_MISSING_TIMESTAMP, -1},
    {"{\"Timestamp\":1}", TL_DECODE_MISSING_TIMESTAMP, -1},
    {"{\"x\":{\"timestamp\":1}}", TL_DECODE_MISSING_TIMESTAMP, -1},
    {"{\"attributes\":{\"timestamp\":\"1\"}}", TL_DECODE_MISSING_TIMESTAMP, -1},
    /* bad timestamp */
    {"{\"timestamp\":\"yesterday\"}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":\"1700000000000\"}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":\"2026-02-30T00:00:00Z\"}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":\"1969-12-31T23:59:59Z\"}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":-1}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":-0.5}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":253402300800000}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":99999999999999999999999}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":1e20}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":1e999}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":true}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":{}}", TL_DECODE_BAD_TIMESTAMP, 13},
    {"{\"timestamp\":[1]}", TL_DECODE_BAD_TIMESTAMP, 13},
    /* trailing garbage */
    {"{\"timestamp\":1} x", TL_DECODE_JSON_SYNTAX, 16},
    {"{\"timestamp\":1}{}", TL_DECODE_JSON_SYNTAX, 15},
    {"{\"timestamp\":1}}", TL_DECODE_JSON_SYNTAX, 15},
    {"{\"timestamp\":1},", TL_DECODE_JSON_SYNTAX, 15},
};

static void test_json_decode_malformed_table(void **state)
{
    (void)state;
    tl_event *ev = &ev_;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        tl_decode_err err;
        int rc = decode_s(c->json, ev, &err);
        if (rc != -1)
            fail_msg("case %zu '%s': accepted", i, c->json);
        if (err.code != c->code || (c->offset >= 0 && err.offset != (uint32_t)c->offset)) {
            char buf[200];
            fail_msg("case %zu '%s': got %s, want %s at %d", i, c->json,
                     tl_decode_err_format(&err, buf, sizeof buf), tl_decode_code_name(c->code),
                     c->offset);
        }
    }
    /* A NUL byte is not whitespace. */
    tl_decode_err err;
    assert_int_equal(decode("{\"timestamp\":1}\0", 16, ev, &err), -1);
    assert_int_equal(err.code, TL_DECODE_JSON_SYNTAX);
    assert_int_equal(err.offset, 15);
    assert_int_equal(tl_json_decode(NULL, 0, ev, NULL, &err), -1);
    assert_int_equal(err.code, TL_DECODE_EMPTY);
}

static void test_json_decode_error_details(void **state)
{
    (void)state;
    tl_event *ev = &ev_;
    tl_decode_err err;
    char buf[200];
    assert_int_equal(decode_s(TS "\"latency_ms\":\"slow\"}", ev, &err), -1);
    assert_string_equal(err.detail, "field 'latency_ms': expected a number");
    assert_string_equal(tl_decode_err_format(&err, buf, sizeof buf),
                        "bad_type at byte 40: field has the wrong type (field 'latency_ms': expected a number)");
    assert_int_equal(decode_s(TS "\"tool\":7}", ev, &err), -1);
    assert_string_equal(err.detail, "field 'tool': expected a string");
    assert_int_equal(decode_s("{\"timestamp\":\"soon\"}", ev, &err), -1);
    assert_string_equal(err.detail, "field 'timestamp': not an RFC 3339 timestamp");
}

/* Builds a message: TS, then `prefix`, `n` copies of `item` separated by `sep`, `suffix`. */
static char *build(const char *prefix, int n, const char *item, const char *sep, const char *suffix)
{
    size_t cap = strlen(TS) + strlen(prefix) + (size_t)n * (strlen(item) + strlen(sep) + 8) + strlen(suffix) + 1;
    char *s = malloc(cap);
    size_t o = (size_t)snprintf(s, cap, "%s%s", TS, prefix);
    for (int i = 0; i < n; i++) {
        /* `item` may hold one "%d", replaced by the index. */
        const char *d = strstr(item, "%d");
        if (d)
            o += (size_t)snprintf(s + o, cap - o, "%s%.*s%d%s", i ? sep : "", (int)(d - item), item, i, d + 2);
        else
            o += (size_t)snprintf(s + o, cap - o, "%s%s", i ? sep : "", item);
    }
    snprintf(s + o, cap - o, "%s", suffix);
    return s;
}

static void test_json_decode_limits(void **state)
{
    (void)state;
    tl_event *ev = &ev_;
    tl_decode_err err;
    char *s;

    /* Depth: the top-level object is 1, so 63 nested arrays are the most allowed. */
    s = build("\"x\":", 63, "[", "", "");
    size_t n = strlen(s);
    s = realloc(s, n + 63 + 2);
    memset(s + n, ']', 63);
    memcpy(s + n + 63, "}", 2);
    assert_int_equal(decode_s(s, ev, &err), 0);
    free(s);
    s = build("\"x\":", 64, "[", "", "");
    n = strlen(s);
    s = realloc(s, n + 64 + 2);
    memset(s + n, ']', 64);
    memcpy(s + n + 64, "}", 2);
    assert_int_equal(decode_s(s, ev, &err), -1);
    assert_int_equal(err.code, TL_DECODE_TOO_DEEP);
    assert_int_equal(err.offset, strlen(TS) + 4 + 63);
    free(s);
    /* Deep objects inside attributes count the attributes object too. */
    s = build("\"attributes\":{\"a\":", 62, "{\"k\":", "", "1");
    n = strlen(s);
    s = realloc(s, n + 62 + 3);
    memset(s + n, '}', 62);
    memcpy(s + n + 62, "}}", 3);
    assert_int_equal(decode_s(s, ev, &err), 0);
    assert_int_equal(ev->n_attrs, 1);
    assert_int_equal(ev->attr_val[0].n, 62 * 6 + 1);
    free(s);
    s = build("\"attributes\":{\"a\":", 63, "{\"k\":", "", "1");
    assert_int_equal(decode_s(s, ev, &err), -1);
    assert_int_equal(err.code, TL_DECODE_TOO_DEEP);
    free(s);
    /* Unbounded nesting is refused without recursing through it. */
    s = build("\"x\":", 100000, "[", "", "");
    assert_int_equal(decode_s(s, ev, &err), -1);
    assert_int_equal(err.code, TL_DECODE_TOO_DEEP);
    free(s);

    /* Flags: 32 accepted, 33 rejected. */
    s = build("\"flags\":[", TL_EVENT_MAX_FLAGS, "\"f%d\"", ",", "]}");
    assert_int_equal(decode_s(s, ev, &err), 0);
    assert_int_equal(ev->n_flags, TL_EVENT_MAX_FLAGS);
    assert_str(ev->flags[31], "f31");
    free(s);
    s = build("\"flags\":[", TL_EVENT_MAX_FLAGS + 1, "\"f%d\"", ",", "]}");
    assert_int_equal(decode_s(s, ev, &err), -1);
    assert_int_equal(err.code, TL_DECODE_TOO_MANY_FLAGS);
    assert_int_equal(s[err.offset], '"');
    assert_memory_equal(s + err.offset, "\"f32\"", 5);
    free(s);

    /* Attributes: 64 accepted, 65 rejected. */
    s = build("\"attributes\":{", TL_EVENT_MAX_ATTRS, "\"k%d\":\"v\"", ",", "}}");
    assert_int_equal(decode_s(s, ev, &err), 0);
    assert_int_equal(ev->n_attrs, TL_EVENT_MAX_ATTRS);
    assert_str(ev->attr_key[63], "k63");
    free(s);
    s = build("\"attributes\":{", TL_EVENT_MAX_ATTRS + 1, "\"k%d\":7", ",", "}}");
    assert_int_equal(decode_s(s, ev, &err), -1);
    assert_int_equal(err.code, TL_DECODE_TOO_MANY_ATTRS);
    assert_memory_equal(s + err.offset, "\"k64\"", 5);
    free(s);

    /* Number literals: any length of zeros is zero; other literals past 400 bytes in a
     * numeric field are refused (they are still fine inside ignored values). */
    s = build("\"latency_ms\":0.", 1000, "0", "", "}");
    assert_int_equal(decode_s(s, ev, &err), 0);
    assert_true(ev->num[TL_N_LATENCY_MS] == 0.0);
    free(s);
    s = build("\"latency_ms\":1.", 1000, "1", "", "}");
    assert_int_equal(decode_s(s, ev, &err), -1);
    assert_int_equal(err.code, TL_DECODE_BAD_TYPE);
    free(s);
    s = build("\"other\":1.", 1000, "1", "", "}");
    assert_int_equal(decode_s(s, ev, &err), 0);
    free(s);
}

/* ---- random round trips ---------------------------------------------------------------- */

/* Random string into pool: mostly ASCII words, sometimes quotes, backslashes, controls,
 * NUL and multi-byte UTF-8. */
static tl_str rand_str(tl_test_rng *r, char **pool)
{
    static const char *utf8[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe4\xb8\xad"};
    char *p = *pool;
    int len = (int)(tl_test_rand(r) % 24);
    int spicy = tl_test_rand(r) % 4 == 0;
    int o = 0;
    for (int i = 0; i < len; i++) {
        uint64_t x = tl_test_rand(r);
        if (spicy && x % 5 == 0) {
            switch ((x >> 8) % 6) {
            case 0: p[o++] = '"'; break;
            case 1: p[o++] = '\\'; break;
            case 2: p[o++] = (char)((x >> 16) % 32); break; /* control, NUL included */
            case 3: p[o++] = '/'; break;
            default: {
                const char *u = utf8[(x >> 16) % 4];
                size_t un = strlen(u);
                memcpy(p + o, u, un);
                o += (int)un;
            }
            }
        } else {
            p[o++] = (char)('a' + (x >> 8) % 26);
        }
    }
    *pool += o;
    return tl_str_make(p, (size_t)o);
}

static double rand_num(tl_test_rng *r)
{
    uint64_t x = tl_test_rand(r);
    switch (x % 5) {
    case 0: return (double)(tl_test_rand(r) % 100000);            /* token counts */
    case 1: return (double)(tl_test_rand(r) % 1000000) / 100.0;   /* 2-decimal latencies */
    case 2: return tl_test_rand01(r) * 0.05;                      /* costs */
    case 3: return (tl_test_rand01(r) - 0.5) * 1e300;             /* huge */
    default: {
        double d;
        uint64_t bits = tl_test_rand(r);
        memcpy(&d, &bits, sizeof d);
        return d != d || d - d != 0 ? -0.125 : d;                 /* any finite double */
    }
    }
}

static void rand_event(tl_test_rng *r, tl_event *ev, char *pool)
{
    tl_event_reset(ev);
    ev->ts_ms = (int64_t)(tl_test_rand(r) % INT64_C(253402300800000));
    for (int f = 0; f < TL_S__COUNT; f++)
        if (tl_test_rand(r) % 3) {
            tl_str s = rand_str(r, &pool);
            tl_event_set_str(ev, (enum tl_str_field)f, s.p, s.n);
        }
    for (int f = 0; f < TL_N__COUNT; f++)
        if (tl_test_rand(r) % 3)
            tl_event_set_num(ev, (enum tl_num_field)f, rand_num(r));
    uint32_t nf = (uint32_t)(tl_test_rand(r) % 4 == 0 ? tl_test_rand(r) % (TL_EVENT_MAX_FLAGS + 1) : 0);
    for (uint32_t i = 0; i < nf; i++)
        ev->flags[ev->n_flags++] = rand_str(r, &pool);
    uint32_t na = (uint32_t)(tl_test_rand(r) % 3 == 0 ? tl_test_rand(r) % (TL_EVENT_MAX_ATTRS + 1) : 0);
    for (uint32_t i = 0; i < na; i++) {
        ev->attr_key[ev->n_attrs] = rand_str(r, &pool);
        ev->attr_val[ev->n_attrs++] = rand_str(r, &pool);
    }
}

static int str_same(tl_str a, tl_str b) { return tl_str_eq(a, b); }

static void assert_same_event(const tl_event *a, const tl_event *b)
{
    assert_int_equal(a->ts_ms, b->ts_ms);
    assert_int_equal(a->str_present, b->str_present);
    assert_int_equal(a->num_present, b->num_present);
    for (int f = 0; f < TL_S__COUNT; f++)
        if (a->str_present & (1u << f))
            assert_true(str_same(a->str[f], b->str[f]));
    for (int f = 0; f < TL_N__COUNT; f++)
        if (a->num_present & (1u << f))
            if (!(a->num[f] == b->num[f]))
                fail_msg("%s: %.17g != %.17g", tl_num_field_names[f], a->num[f], b->num[f]);
    assert_int_equal(a->n_flags, b->n_flags);
    for (uint32_t i = 0; i < a->n_flags; i++)
        assert_true(str_same(a->flags[i], b->flags[i]));
    assert_int_equal(a->n_attrs, b->n_attrs);
    for (uint32_t i = 0; i < a->n_attrs; i++) {
        assert_true(str_same(a->attr_key[i], b->attr_key[i]));
        assert_true(str_same(a->attr_val[i], b->attr_val[i]));
    }
}

static void test_json_decode_random_round_trips(void **state)
{
    (void)state;
    tl_test_rng rng = {2024};
    static char pool[1 << 16], out[1 << 16], out2[1 << 16];
    tl_event *a = &ev_, *b = &ev2_;
    for (int i = 0; i < 3000; i++) {
        rand_event(&rng, a, pool);
        size_t n = tl_json_encode_event(a, out, sizeof out);
        assert_true(n > 0);
        tl_decode_err err;
        if (decode(out, n, b, &err) != 0) {
            char buf[200];
            fail_msg("round %d: %s\n%.*s", i, tl_decode_err_format(&err, buf, sizeof buf), (int)n, out);
        }
        assert_same_event(a, b);
        /* Re-encoding the decoded event gives the same bytes. */
        size_t n2 = tl_json_encode_event(b, out2, sizeof out2);
        assert_int_equal(n2, n);
        assert_memory_equal(out, out2, n);
        /* Any cap below the exact size fails cleanly; the exact size succeeds. */
        if (i % 50 == 0) {
            for (size_t cap = 0; cap < n; cap += 1 + cap / 8)
                assert_int_equal(tl_json_encode_event(a, out2, cap), 0);
            assert_int_equal(tl_json_encode_event(a, out2, n), n);
        }
    }
}

static void test_json_decode_encoder_exact_output(void **state)
{
    (void)state;
    /* The encoder's exact text for a known event. */
    tl_event *ev = &ev_;
    tl_event_reset(ev);
    ev->ts_ms = INT64_C(1795801338123);
    tl_event_set_str(ev, TL_S_SERVICE, "a\"b\n\x01", 5);
    tl_event_set_num(ev, TL_N_LATENCY_MS, 12.5);
    tl_event_set_num(ev, TL_N_INPUT_TOKENS, 812);
    tl_event_set_num(ev, TL_N_COST_USD, 0.1);
    ev->flags[ev->n_flags++] = TL_STR_LIT("retry");
    ev->attr_key[ev->n_attrs] = TL_STR_LIT("k");
    ev->attr_val[ev->n_attrs++] = TL_STR_LIT("42");
    char out[512];
    size_t n = tl_json_encode_event(ev, out, sizeof out);
    const char *want = "{\"timestamp\":\"2026-11-27T17:42:18.123Z\",\"service\":\"a\\\"b\\u000a\\u0001\","
                       "\"latency_ms\":12.5,\"input_tokens\":812,\"cost_usd\":0.1,\"flags\":[\"retry\"],"
                       "\"attributes\":{\"k\":\"42\"}}";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    /* Minimal event: timestamp only, no empty flags/attributes. */
    tl_event_reset(ev);
    n = tl_json_encode_event(ev, out, sizeof out);
    assert_int_equal(n, strlen("{\"timestamp\":\"1970-01-01T00:00:00.000Z\"}"));
    assert_memory_equal(out, "{\"timestamp\":\"1970-01-01T00:00:00.000Z\"}", n);
}

static void test_json_decode_put_string(void **state)
{
    (void)state;
    char out[64];
    size_t pos = 2;
    memcpy(out, "xx", 2);
    assert_int_equal(tl_json_put_string(out, sizeof out, &pos, "a\"\\\t\x1f\x7f/\xc3\xa9", 9), 0);
    const char *want = "xx\"a\\\"\\\\\\u0009\\u001f\x7f/\xc3\xa9\"";
    assert_int_equal(pos, strlen(want));
    assert_memory_equal(out, want, pos);
    /* Too small at every size: -1 and pos untouched. */
    for (size_t cap = 0; cap < strlen(want); cap++) {
        pos = 2;
        assert_int_equal(tl_json_put_string(out, cap, &pos, "a\"\\\t\x1f\x7f/\xc3\xa9", 9), -1);
        assert_int_equal(pos, 2);
    }
    pos = 0;
    assert_int_equal(tl_json_put_string(out, 2, &pos, NULL, 0), 0);
    assert_int_equal(pos, 2);
    assert_memory_equal(out, "\"\"", 2);
}

static void test_json_decode_allocates_nothing(void **state)
{
    (void)state;
    tl_event *ev = &ev_;
    tl_decode_err err;
    tl_json_scratch sc = new_scratch();
    const char *msg = "{\"timestamp\":\"2026-11-27T17:42:18.123Z\",\"service\":\"a\\nb\",\"latency_ms\":1e-7,"
                      "\"flags\":[\"x\"],\"attributes\":{\"a\":[1,{\"b\":null}]}}";
    uint64_t before = tl_alloc_count();
    for (int i = 0; i < 1000; i++)
        assert_int_equal(tl_json_decode(msg, strlen(msg), ev, &sc, &err), 0);
    assert_int_equal(tl_alloc_count(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_decode_full_event),
        cmocka_unit_test(test_json_decode_minimal_and_nulls),
        cmocka_unit_test(test_json_decode_timestamp_forms),
        cmocka_unit_test(test_json_decode_escapes_to_utf8),
        cmocka_unit_test(test_json_decode_scratch_full),
        cmocka_unit_test(test_json_decode_numbers_match_strtod),
        cmocka_unit_test(test_json_decode_malformed_table),
        cmocka_unit_test(test_json_decode_error_details),
        cmocka_unit_test(test_json_decode_limits),
        cmocka_unit_test(test_json_decode_random_round_trips),
        cmocka_unit_test(test_json_decode_encoder_exact_output),
        cmocka_unit_test(test_json_decode_put_string),
        cmocka_unit_test(test_json_decode_allocates_nothing),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(msg_copy);
    return rc;
}
