/* tests/unit/test_bad_input.c - every kind of bad input of issue 5, through the decoder the
 * engine uses (tl_decoder_decode: format detection, the schema registry, the JSON and Avro
 * decoders, the limits and the far-future check).
 *
 * One stream interleaves valid events (JSON, Confluent-framed Avro, raw Avro) with one bad
 * message of each kind; the test checks each bad one is rejected with its own code (the
 * `tripline.error.code` of its dead letter) and each valid one decodes to exactly what was
 * encoded, in order, so a bad message never takes a good one with it. Then each limit is
 * checked at its boundary (the largest accepted input, the smallest rejected one), and the
 * far-future check in both modes with a fixed clock. Runs under ASan + UBSan in CI like
 * every unit test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avro_encode.h"
#include "config.h"
#include "decode.h"
#include "json_encode.h"

#define NOW 1800000000000LL /* the fixed wall clock of these tests: 2027-01-15T08:00:00Z */
#define HOUR 3600000LL
#define MAX_BYTES 8192 /* limits.max_message_bytes here */

static int64_t fixed_clock(void) { return NOW; }

/* ---- building messages ------------------------------------------------------------------ */

typedef struct msg {
    uint8_t b[3 * MAX_BYTES];
    size_t n;
} msg;

static void put_varint(msg *m, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        m->b[m->n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    m->b[m->n++] = (uint8_t)z;
}

static void put_bytes(msg *m, const void *p, size_t n)
{
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void put_str(msg *m, const char *s) { put_bytes(m, s, strlen(s)); }

/* A valid event: number i, at time ts. */
static void make_event(tl_event *ev, int i, int64_t ts, char *idbuf)
{
    tl_event_reset(ev);
    ev->ts_ms = ts;
    sprintf(idbuf, "ok-%04d", i);
    tl_event_set_str(ev, TL_S_TRACE_ID, idbuf, (uint32_t)strlen(idbuf));
    tl_event_set_str(ev, TL_S_SERVICE, "support-bot", 11);
    tl_event_set_str(ev, TL_S_KIND, "tool_call", 9);
    tl_event_set_str(ev, TL_S_TOOL, "get_order_status", 16);
    tl_event_set_num(ev, TL_N_LATENCY_MS, 100 + i);
}

enum fmt { F_JSON, F_FRAMED, F_RAW };

static void encode(msg *m, const tl_event *ev, enum fmt f)
{
    if (f == F_JSON)
        m->n = tl_json_encode_event(ev, (char *)m->b, sizeof m->b);
    else if (f == F_FRAMED)
        m->n = tl_avro_encode_event_confluent(ev, 1, m->b, sizeof m->b);
    else
        m->n = tl_avro_encode_event(ev, m->b, sizeof m->b);
    assert_true(m->n > 0);
}

static void json(msg *m, const char *s)
{
    m->n = strlen(s);
    assert_true(m->n <= sizeof m->b);
    memcpy(m->b, s, m->n);
}

/* `{"timestamp": NOW-1h, "service": "s", <middle>}` */
static void json_with(msg *m, const char *middle)
{
    char *s = malloc(strlen(middle) + 128);
    sprintf(s, "{\"timestamp\": %lld, \"service\": \"s\"%s%s}", NOW - HOUR, middle[0] ? ", " : "", middle);
    json(m, s);
    free(s);
}

/* A JSON value nested `depth` levels below the top-level object, inside attributes. */
static void json_nested(msg *m, int depth)
{
    char *s = malloc((size_t)depth * 8 + 128);
    size_t n = (size_t)sprintf(s, "{\"timestamp\": %lld, \"attributes\": {\"deep\": ", NOW - HOUR);
    for (int i = 2; i < depth; i++) /* the top-level object is 1, attributes 2 */
        s[n++] = '[';
    s[n++] = '1';
    for (int i = 2; i < depth; i++)
        s[n++] = ']';
    memcpy(s + n, "}}", 3);
    json(m, s);
    free(s);
}

/* A JSON event with `na` attributes and `nf` flags. */
static void json_counts(msg *m, int na, int nf)
{
    char *s = malloc(64 * (size_t)(na + nf) + 128);
    size_t n = (size_t)sprintf(s, "{\"timestamp\": %lld, \"flags\": [", NOW - HOUR);
    for (int i = 0; i < nf; i++)
        n += (size_t)sprintf(s + n, "%s\"f%d\"", i ? "," : "", i);
    n += (size_t)sprintf(s + n, "], \"attributes\": {");
    for (int i = 0; i < na; i++)
        n += (size_t)sprintf(s + n, "%s\"k%d\": \"v\"", i ? "," : "", i);
    sprintf(s + n, "}}");
    json(m, s);
    free(s);
}

/* A valid JSON event of exactly `len` bytes (padded with an attribute). */
static void json_of_size(msg *m, size_t len)
{
    char head[128];
    int hn = sprintf(head, "{\"timestamp\": %lld, \"attributes\": {\"pad\": \"", NOW - HOUR);
    assert_true(len >= (size_t)hn + 3 && len <= sizeof m->b);
    memcpy(m->b, head, (size_t)hn);
    memset(m->b + hn, 'p', len - (size_t)hn - 3);
    memcpy(m->b + len - 3, "\"}}", 3);
    m->n = len;
}

/* ---- the decoder under test --------------------------------------------------------------- */

typedef struct fixture {
    tl_config cfg;
    tl_decoder *dec;
    tl_json_scratch scratch;
    char schema_path[64];
} fixture;

/* A recursive Avro schema (a list of itself) for the registry's id 2: nesting in Avro data. */
static const char recursive_schema[] =
    "{\"type\":\"record\",\"name\":\"Deep\",\"fields\":["
    "{\"name\":\"timestamp\",\"type\":\"long\"},"
    "{\"name\":\"next\",\"type\":[\"null\",\"Deep\"]}]}";

static fixture *fixture_new(int clamp)
{
    fixture *fx = calloc(1, sizeof *fx);
    tl_config_init(&fx->cfg);
    fx->cfg.max_message_bytes = MAX_BYTES;
    fx->cfg.max_future_ms = HOUR;
    fx->cfg.clamp_future = clamp;
    snprintf(fx->schema_path, sizeof fx->schema_path, "/tmp/tl-bad-input-%d.avsc", (int)getpid());
    FILE *f = fopen(fx->schema_path, "w");
    assert_non_null(f);
    fputs(recursive_schema, f);
    fclose(f);
    /* id 1 stays the built-in schema: tl_decoder_new adds it when the registry lacks it */
    tl_schema_ref reg = {2, fx->schema_path};
    fx->cfg.registry = &reg;
    fx->cfg.n_registry = 1;
    char err[256];
    fx->dec = tl_decoder_new(&fx->cfg, err, sizeof err);
    if (!fx->dec)
        fail_msg("decoder: %s", err);
    fx->cfg.registry = NULL; /* not owned by the config */
    fx->cfg.n_registry = 0;
    tl_decoder_set_clock(fx->dec, fixed_clock);
    fx->scratch.cap = MAX_BYTES;
    fx->scratch.buf = malloc(fx->scratch.cap);
    return fx;
}

static void fixture_free(fixture *fx)
{
    tl_decoder_destroy(fx->dec);
    tl_config_fini(&fx->cfg);
    unlink(fx->schema_path);
    free(fx->scratch.buf);
    free(fx);
}

static int setup_reject(void **state)
{
    *state = fixture_new(0);
    return 0;
}

static int setup_clamp(void **state)
{
    *state = fixture_new(1);
    return 0;
}

static int teardown(void **state)
{
    fixture_free(*state);
    return 0;
}

/* Decode; the code (TL_DECODE_OK on success). */
static tl_decode_code decode(fixture *fx, const msg *m, tl_event *ev, tl_decode_err *err)
{
    memset(err, 0, sizeof *err);
    if (tl_decoder_decode(fx->dec, m->b, m->n, ev, &fx->scratch, err) == 0)
        return TL_DECODE_OK;
    assert_int_not_equal(err->code, TL_DECODE_OK);
    assert_true(err->offset <= m->n);
    return err->code;
}

static void expect_code(fixture *fx, const msg *m, tl_decode_code want, const char *what)
{
    tl_event ev;
    tl_decode_err err;
    tl_decode_code got = decode(fx, m, &ev, &err);
    if (got != want) {
        char why[256];
        tl_decode_err_format(&err, why, sizeof why);
        fail_msg("%s: expected %s, got %s (%s)", what, tl_decode_code_name(want), tl_decode_code_name(got),
                 got == TL_DECODE_OK ? "decoded" : why);
    }
}

/* ---- the bad messages of issue 5 ---------------------------------------------------------- */

typedef struct bad_case {
    const char *what;
    tl_decode_code code;
    msg m;
} bad_case;

enum { N_BAD = 18 };

static msg *add(bad_case *c, int *k, const char *what, tl_decode_code code)
{
    bad_case *b = &c[(*k)++];
    b->what = what;
    b->code = code;
    b->m.n = 0;
    return &b->m;
}

static void build_bad_cases(bad_case *c)
{
    tl_event ev;
    char id[32];
    int k = 0;
    msg *m;
    make_event(&ev, 9999, NOW - HOUR, id);

    /* Confluent framing with another magic byte (a newer framing, another producer's bytes) */
    m = add(c, &k, "magic byte 0x01", TL_DECODE_BAD_MAGIC);
    encode(m, &ev, F_FRAMED);
    m->b[0] = 0x01;
    m = add(c, &k, "magic byte 0x7f", TL_DECODE_BAD_MAGIC);
    encode(m, &ev, F_FRAMED);
    m->b[0] = 0x7f;
    /* fewer than 5 bytes */
    m = add(c, &k, "4-byte frame", TL_DECODE_SHORT_FRAME);
    put_bytes(m, "\x00\x00\x00\x01", 4);
    m = add(c, &k, "1-byte frame", TL_DECODE_SHORT_FRAME);
    put_bytes(m, "\x00", 1);
    /* a schema id the registry does not have */
    m = add(c, &k, "schema id 9", TL_DECODE_UNKNOWN_SCHEMA);
    encode(m, &ev, F_FRAMED);
    m->b[4] = 9;
    /* truncated Avro: a valid framed record cut in the middle of its service string */
    m = add(c, &k, "truncated framed Avro", TL_DECODE_TRUNCATED);
    encode(m, &ev, F_FRAMED);
    m->n = (size_t)((uint8_t *)memmem(m->b, m->n, "support-bot", 11) - m->b) + 4;
    m = add(c, &k, "truncated raw Avro", TL_DECODE_TRUNCATED);
    encode(m, &ev, F_RAW);
    m->n -= 3;
    /* a union branch index out of range: trace_id is [null, string], branch 2 */
    m = add(c, &k, "bad union index", TL_DECODE_BAD_UNION);
    put_bytes(m, "\x00\x00\x00\x00\x01", 5);
    put_varint(m, NOW - HOUR);
    put_varint(m, 2);
    /* corrupt JSON */
    m = add(c, &k, "corrupt JSON", TL_DECODE_JSON_SYNTAX);
    json_with(m, "\"kind\": \"request\" \"tool\": \"x\"");
    m = add(c, &k, "JSON cut short", TL_DECODE_TRUNCATED);
    json(m, "{\"timestamp\": 1800000000000, \"service\": \"sup");
    /* deeply nested JSON: one level over TL_JSON_MAX_DEPTH */
    m = add(c, &k, "JSON nested 65 deep", TL_DECODE_TOO_DEEP);
    json_nested(m, TL_JSON_MAX_DEPTH + 1);
    /* deeply nested Avro: 70 levels of a recursive record (schema id 2) */
    m = add(c, &k, "Avro nested 70 deep", TL_DECODE_TOO_DEEP);
    put_bytes(m, "\x00\x00\x00\x00\x02", 5);
    put_varint(m, NOW - HOUR);
    for (int i = 0; i < 70; i++) {
        put_varint(m, 1); /* next: branch Deep */
        put_varint(m, NOW - HOUR);
    }
    put_varint(m, 0);
    /* huge JSON: one byte over limits.max_message_bytes */
    m = add(c, &k, "JSON over max_message_bytes", TL_DECODE_TOO_LARGE);
    json_of_size(m, MAX_BYTES + 1);
    /* missing timestamp, and a null one */
    m = add(c, &k, "no timestamp", TL_DECODE_MISSING_TIMESTAMP);
    json(m, "{\"service\": \"support-bot\", \"kind\": \"request\"}");
    m = add(c, &k, "null timestamp", TL_DECODE_MISSING_TIMESTAMP);
    json(m, "{\"timestamp\": null, \"service\": \"support-bot\"}");
    /* far in the future (this fixture rejects): 5h ahead with a 1h limit, JSON and Avro */
    make_event(&ev, 9998, NOW + 5 * HOUR, id);
    m = add(c, &k, "JSON 5h ahead", TL_DECODE_BAD_TIMESTAMP);
    encode(m, &ev, F_JSON);
    m = add(c, &k, "framed Avro 5h ahead", TL_DECODE_BAD_TIMESTAMP);
    encode(m, &ev, F_FRAMED);
    /* more attributes than the limit */
    m = add(c, &k, "65 attributes", TL_DECODE_TOO_MANY_ATTRS);
    json_counts(m, TL_EVENT_MAX_ATTRS + 1, 0);
    assert_int_equal(k, N_BAD);
}

/* The stream: valid events in all three encodings with every bad message between them. Each
 * valid event must come out exactly as it went in, in order; each bad one with its code. */
static void test_bad_input_each_kind_rejected_nothing_else_lost(void **state)
{
    fixture *fx = *state;
    static bad_case bad[N_BAD];
    build_bad_cases(bad);
    enum { PER_GAP = 5, N_VALID = (N_BAD + 1) * PER_GAP };
    int valid_seen = 0, bad_seen[N_BAD] = {0};
    static msg m;
    for (int i = 0; i < N_VALID; i++) {
        tl_event want, got;
        char id[32];
        make_event(&want, i, NOW - HOUR + i * 1000, id);
        encode(&m, &want, (enum fmt)(i % 3));
        tl_decode_err err;
        if (decode(fx, &m, &got, &err) != TL_DECODE_OK)
            fail_msg("valid event %d (format %d) rejected: %s", i, i % 3, tl_decode_code_name(err.code));
        assert_int_equal(got.ts_ms, want.ts_ms);
        assert_int_equal(got.str_present, want.str_present);
        assert_int_equal(got.num_present, want.num_present);
        assert_int_equal(got.str[TL_S_TRACE_ID].n, strlen(id));
        assert_memory_equal(got.str[TL_S_TRACE_ID].p, id, strlen(id));
        assert_memory_equal(got.str[TL_S_TOOL].p, "get_order_status", 16);
        assert_true(got.num[TL_N_LATENCY_MS] == 100 + i);
        valid_seen++;
        if (i % PER_GAP == PER_GAP - 1 && i / PER_GAP < N_BAD) {
            bad_case *b = &bad[i / PER_GAP];
            expect_code(fx, &b->m, b->code, b->what);
            bad_seen[i / PER_GAP]++;
        }
    }
    assert_int_equal(valid_seen, N_VALID);
    for (int i = 0; i < N_BAD; i++)
        assert_int_equal(bad_seen[i], 1);
    tl_decoder_stats st;
    tl_decoder_stats_get(fx->dec, &st);
    assert_int_equal(st.future_rejected, 2);
    assert_int_equal(st.future_clamped, 0);
}

/* Every cut of a valid Avro record (framed and raw) is truncated or bad_length, never an
 * event; every cut of a JSON one is rejected too. */
static void test_bad_input_every_cut_rejected(void **state)
{
    fixture *fx = *state;
    tl_event ev;
    char id[32];
    make_event(&ev, 1, NOW - HOUR, id);
    tl_event_set_str(&ev, TL_S_STATUS, "error", 5);
    static msg full, cut;
    for (int f = 0; f < 3; f++) {
        encode(&full, &ev, (enum fmt)f);
        for (size_t n = 1; n < full.n; n++) {
            memcpy(cut.b, full.b, n);
            cut.n = n;
            tl_event got;
            tl_decode_err err;
            tl_decode_code c = decode(fx, &cut, &got, &err);
            if (f == F_JSON)
                assert_int_not_equal(c, TL_DECODE_OK);
            else if (f == F_FRAMED && n < 5)
                assert_int_equal(c, TL_DECODE_SHORT_FRAME);
            else if (c != TL_DECODE_TRUNCATED && c != TL_DECODE_BAD_LENGTH)
                fail_msg("format %d cut at %zu of %zu: %s", f, n, full.n, tl_decode_code_name(c));
        }
    }
}

/* Each limit at its boundary: the largest input accepted, the smallest rejected. */
static void test_bad_input_limits_at_their_boundary(void **state)
{
    fixture *fx = *state;
    static msg m;
    /* message size */
    json_of_size(&m, MAX_BYTES);
    expect_code(fx, &m, TL_DECODE_OK, "JSON of exactly max_message_bytes");
    json_of_size(&m, MAX_BYTES + 1);
    expect_code(fx, &m, TL_DECODE_TOO_LARGE, "JSON one byte over");
    /* nesting depth, JSON */
    json_nested(&m, TL_JSON_MAX_DEPTH);
    expect_code(fx, &m, TL_DECODE_OK, "JSON nested 64 deep");
    json_nested(&m, TL_JSON_MAX_DEPTH + 1);
    expect_code(fx, &m, TL_DECODE_TOO_DEEP, "JSON nested 65 deep");
    /* nesting depth, Avro (the recursive schema id 2): 20 levels pass, 70 do not */
    for (int depth = 20; depth <= 70; depth += 50) {
        m.n = 0;
        put_bytes(&m, "\x00\x00\x00\x00\x02", 5);
        put_varint(&m, NOW - HOUR);
        for (int i = 0; i < depth; i++) {
            put_varint(&m, 1);
            put_varint(&m, NOW - HOUR);
        }
        put_varint(&m, 0);
        expect_code(fx, &m, depth == 20 ? TL_DECODE_OK : TL_DECODE_TOO_DEEP, "Avro recursion");
    }
    /* attribute and flag counts */
    json_counts(&m, TL_EVENT_MAX_ATTRS, TL_EVENT_MAX_FLAGS);
    expect_code(fx, &m, TL_DECODE_OK, "64 attributes and 32 flags");
    json_counts(&m, TL_EVENT_MAX_ATTRS + 1, 0);
    expect_code(fx, &m, TL_DECODE_TOO_MANY_ATTRS, "65 attributes");
    json_counts(&m, 0, TL_EVENT_MAX_FLAGS + 1);
    expect_code(fx, &m, TL_DECODE_TOO_MANY_FLAGS, "33 flags");

    /* string length. A string is bounded by the message: a 7 KB tool name inside the limit
     * decodes whole (label values are cut to TL_ALERT_LABEL_MAX later, test_route.c and
     * test_template.c); an Avro length beyond the message is bad_length; escaped JSON text
     * beyond the scratch space is scratch_full, never a write past it. */
    char *big = malloc(7000 + 64);
    memset(big, 't', 7000);
    big[7000] = '\0';
    char *mid = malloc(7100);
    sprintf(mid, "\"tool\": \"%s\"", big);
    json_with(&m, mid);
    tl_event ev;
    tl_decode_err err;
    assert_int_equal(decode(fx, &m, &ev, &err), TL_DECODE_OK);
    assert_int_equal(ev.str[TL_S_TOOL].n, 7000);
    assert_memory_equal(ev.str[TL_S_TOOL].p, big, 7000);
    m.n = 0;
    put_bytes(&m, "\x00\x00\x00\x00\x01", 5);
    put_varint(&m, NOW - HOUR);
    put_varint(&m, 1);               /* trace_id: string */
    put_varint(&m, 1000000000);      /* of 1 GB */
    put_str(&m, "abc");
    expect_code(fx, &m, TL_DECODE_BAD_LENGTH, "Avro string of 1 GB");
    m.n = 0;
    put_varint(&m, NOW - HOUR); /* raw: same, negative length */
    put_varint(&m, 1);
    put_varint(&m, -5);
    expect_code(fx, &m, TL_DECODE_BAD_LENGTH, "Avro string of -5 bytes");
    for (size_t i = 0; i < 2000; i++)
        memcpy(big + 2 * i, "\\n", 2);
    big[4000] = '\0';
    sprintf(mid, "\"tool\": \"%s\"", big);
    json_with(&m, mid);
    size_t cap = fx->scratch.cap;
    fx->scratch.cap = 1000; /* a scratch smaller than the unescaped text */
    expect_code(fx, &m, TL_DECODE_SCRATCH_FULL, "escaped string over the scratch");
    fx->scratch.cap = cap;
    expect_code(fx, &m, TL_DECODE_OK, "escaped string within the scratch");
    free(big);
    free(mid);
}

/* Reject mode: the limit itself passes, one ms more is bad_timestamp saying how far ahead;
 * the clock is read only when an event is beyond the cached bound. */
static int64_t clock_now = NOW;
static int clock_reads;
static int64_t counting_clock(void)
{
    clock_reads++;
    return clock_now;
}

static void test_bad_input_future_rejected(void **state)
{
    fixture *fx = *state;
    tl_decoder_set_clock(fx->dec, counting_clock);
    clock_now = NOW;
    clock_reads = 0;
    static msg m;
    tl_event ev, got;
    tl_decode_err err;
    char id[32];
    make_event(&ev, 1, NOW + HOUR, id);
    for (int f = 0; f < 3; f++) {
        ev.ts_ms = NOW + HOUR;
        encode(&m, &ev, (enum fmt)f);
        assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_OK);
        assert_int_equal(got.ts_ms, NOW + HOUR);
        ev.ts_ms = NOW + HOUR + 1;
        encode(&m, &ev, (enum fmt)f);
        assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_BAD_TIMESTAMP);
        ev.ts_ms = NOW + 3 * HOUR + 1500;
        encode(&m, &ev, (enum fmt)f);
        assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_BAD_TIMESTAMP);
        assert_string_equal(err.detail, "3h1s ahead of the wall clock, limit 1h");
    }
    char why[256];
    tl_decode_err_format(&err, why, sizeof why);
    assert_non_null(strstr(why, "bad_timestamp"));
    /* events at or before now + limit read no clock once the bound is cached */
    int reads = clock_reads;
    for (int i = 0; i < 1000; i++) {
        ev.ts_ms = NOW - HOUR + i;
        encode(&m, &ev, F_JSON);
        assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_OK);
    }
    assert_int_equal(clock_reads, reads);
    /* the clock moves on: an event that was too far ahead is now accepted */
    ev.ts_ms = NOW + 2 * HOUR;
    encode(&m, &ev, F_FRAMED);
    assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_BAD_TIMESTAMP);
    clock_now = NOW + HOUR;
    assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_OK);
    assert_int_equal(got.ts_ms, NOW + 2 * HOUR);
    tl_decoder_stats st;
    tl_decoder_stats_get(fx->dec, &st);
    assert_int_equal(st.future_rejected, 7);
    assert_int_equal(st.future_clamped, 0);

    /* timestamps no event can have are bad_timestamp in Avro as in JSON */
    ev.ts_ms = -5000;
    encode(&m, &ev, F_FRAMED);
    assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_BAD_TIMESTAMP);
    json(&m, "{\"timestamp\": -5000}");
    assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_BAD_TIMESTAMP);
}

/* Clamp mode: the event is kept, at now + limit, and counted. */
static void test_bad_input_future_clamped(void **state)
{
    fixture *fx = *state;
    static msg m;
    tl_event ev, got;
    tl_decode_err err;
    char id[32];
    make_event(&ev, 1, NOW + 5 * HOUR, id);
    for (int f = 0; f < 3; f++) {
        encode(&m, &ev, (enum fmt)f);
        assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_OK);
        assert_int_equal(got.ts_ms, NOW + HOUR);
        assert_memory_equal(got.str[TL_S_TRACE_ID].p, id, strlen(id)); /* the rest intact */
    }
    ev.ts_ms = NOW + HOUR; /* within the limit: untouched, not counted */
    encode(&m, &ev, F_JSON);
    assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_OK);
    assert_int_equal(got.ts_ms, NOW + HOUR);
    ev.ts_ms = 253402300799999LL; /* 9999-12-31: the largest timestamp JSON accepts */
    encode(&m, &ev, F_JSON);
    assert_int_equal(decode(fx, &m, &got, &err), TL_DECODE_OK);
    assert_int_equal(got.ts_ms, NOW + HOUR);
    tl_decoder_stats st;
    tl_decoder_stats_get(fx->dec, &st);
    assert_int_equal(st.future_clamped, 4);
    assert_int_equal(st.future_rejected, 0);
    /* everything else is still rejected as before */
    static bad_case bad[N_BAD];
    build_bad_cases(bad);
    for (int i = 0; i < N_BAD; i++)
        if (bad[i].code != TL_DECODE_BAD_TIMESTAMP)
            expect_code(fx, &bad[i].m, bad[i].code, bad[i].what);
    tl_decoder_stats_get(fx->dec, &st);
    assert_int_equal(st.future_clamped, 4);
}

/* max_future 0 (the default) checks nothing: replays and fixtures carry any time. */
static void test_bad_input_future_check_off_by_default(void **state)
{
    (void)state;
    tl_config cfg;
    tl_config_init(&cfg);
    assert_int_equal(cfg.max_future_ms, 0);
    char err[256];
    tl_decoder *d = tl_decoder_new(&cfg, err, sizeof err);
    assert_non_null(d);
    tl_decoder_set_clock(d, fixed_clock);
    char buf[256], scr[256];
    tl_json_scratch s = {scr, sizeof scr, 0};
    tl_event ev, got;
    char id[32];
    make_event(&ev, 1, NOW + 1000 * HOUR, id);
    size_t n = tl_json_encode_event(&ev, buf, sizeof buf);
    tl_decode_err derr;
    assert_int_equal(tl_decoder_decode(d, buf, n, &got, &s, &derr), 0);
    assert_int_equal(got.ts_ms, NOW + 1000 * HOUR);
    tl_decoder_stats st;
    tl_decoder_stats_get(d, &st);
    assert_int_equal(st.future_clamped + st.future_rejected, 0);
    tl_decoder_destroy(d);
    tl_config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_input_each_kind_rejected_nothing_else_lost, setup_reject, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_every_cut_rejected, setup_reject, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_limits_at_their_boundary, setup_reject, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_future_rejected, setup_reject, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_future_clamped, setup_clamp, teardown),
        cmocka_unit_test(test_bad_input_future_check_off_by_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
