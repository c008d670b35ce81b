/* tests/unit/test_timefmt.c - RFC 3339 timestamps and durations (engine/timefmt.c).
 * The calendar arithmetic is checked against libc's gmtime_r/timegm as a reference model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "timefmt.h"
#include "tl_test.h"

static int parse(const char *s, int64_t *ms) { return tl_time_parse_rfc3339(s, strlen(s), ms); }

static void test_timefmt_parse_known_values(void **state)
{
    (void)state;
    int64_t ms = -1;
    assert_int_equal(parse("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(parse("2026-11-27T17:42:18.123Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1795801338123));
    assert_int_equal(parse("2000-02-29T12:00:00Z", &ms), 0);
    assert_int_equal(ms, INT64_C(951825600000));
    assert_int_equal(parse("9999-12-31T23:59:59.999Z", &ms), 0);
    assert_int_equal(ms, INT64_C(253402300799999));
    assert_int_equal(parse("1969-12-31T23:59:59.999Z", &ms), 0);
    assert_int_equal(ms, -1);
    assert_int_equal(parse("0000-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, INT64_C(-62167219200000));
}

static void test_timefmt_parse_offsets_and_separators(void **state)
{
    (void)state;
    int64_t z, ms;
    assert_int_equal(parse("2026-11-27T17:42:18.123Z", &z), 0);
    const char *same[] = {
        "2026-11-27T19:42:18.123+02:00", "2026-11-27T12:12:18.123-05:30",
        "2026-11-27t17:42:18.123z",      "2026-11-27 17:42:18.123Z",
        "2026-11-27T17:42:18.123000Z",   "2026-11-27T17:42:18.123999999Z",
        "2026-11-27T17:42:18.123+00:00", "2026-11-28T01:42:18.123+08:00",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        ms = 0;
        assert_int_equal(parse(same[i], &ms), 0);
        assert_int_equal(ms, z);
    }
    /* Short fractions are tenths/hundredths; none means .000 */
    assert_int_equal(parse("2026-11-27T17:42:18.1Z", &ms), 0);
    assert_int_equal(ms, z - 23);
    assert_int_equal(parse("2026-11-27T17:42:18.12Z", &ms), 0);
    assert_int_equal(ms, z - 3);
    assert_int_equal(parse("2026-11-27T17:42:18Z", &ms), 0);
    assert_int_equal(ms, z - 123);
    /* A leap second is accepted and lands on the next minute's first second. */
    assert_int_equal(parse("2016-12-31T23:59:60Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1483228800000));
}

static void test_timefmt_parse_rejects_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "2026-11-27",
        "2026-11-27T17:42:18",        /* no zone */
        "2026-11-27T17:42:18.Z",      /* empty fraction */
        "2026-11-27T17:42:18.123",    /* fraction, no zone */
        "2026-13-01T00:00:00Z",       /* month 13 */
        "2026-00-01T00:00:00Z",       /* month 0 */
        "2026-02-29T00:00:00Z",       /* not a leap year */
        "1900-02-29T00:00:00Z",       /* century, not a leap year */
        "2026-04-31T00:00:00Z",       /* April has 30 days */
        "2026-01-00T00:00:00Z",       /* day 0 */
        "2026-01-01T24:00:00Z",       /* hour 24 */
        "2026-01-01T00:60:00Z",       /* minute 60 */
        "2026-01-01T00:00:61Z",       /* second 61 */
        "2026-01-01T00:00:00+24:00",  /* offset hour */
        "2026-01-01T00:00:00+02:60",  /* offset minute */
        "2026-01-01T00:00:00+2:00",   /* short offset */
        "2026-01-01T00:00:00+0200",   /* no colon */
        "2026-01-01T00:00:00Zx",      /* trailing */
        "2026-01-01T00:00:00Z ",      /* trailing space */
        "2026-01-01X00:00:00Z",       /* separator */
        "2026/01/01T00:00:00Z",
        "2026-01-01T00-00-00Z",
        "20260101T000000Z",           /* basic format is not RFC 3339 */
        "-026-01-01T00:00:00Z",
        "+2026-01-01T00:00:00Z",
        "2026-1-01T00:00:00Z",
        "2026-01-01T00:00:0aZ",
        "1700000000000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        if (parse(bad[i], &ms) == 0)
            fail_msg("accepted '%s'", bad[i]);
    }
    /* Length is honoured: the same bytes cut short are rejected, and no byte past n is read
     * (the heap copy has no terminator, so ASan catches an over-read). */
    const char *ok = "2026-11-27T17:42:18.123Z";
    int64_t ms;
    for (size_t n = 0; n < strlen(ok); n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, ok, n);
        assert_int_equal(tl_time_parse_rfc3339(copy, n, &ms), -1);
        free(copy);
    }
    char *copy = malloc(strlen(ok));
    memcpy(copy, ok, strlen(ok));
    assert_int_equal(tl_time_parse_rfc3339(copy, strlen(ok), &ms), 0);
    free(copy);
}

static void test_timefmt_format_known_values(void **state)
{
    (void)state;
    char buf[25];
    assert_int_equal(tl_time_format_rfc3339(0, buf, sizeof buf), 24);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    assert_int_equal(tl_time_format_rfc3339(INT64_C(1795801338123), buf, sizeof buf), 24);
    assert_string_equal(buf, "2026-11-27T17:42:18.123Z");
    tl_time_format_rfc3339(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    tl_time_format_rfc3339(INT64_C(951868799999), buf, sizeof buf);
    assert_string_equal(buf, "2000-02-29T23:59:59.999Z");
    /* Out of range clamps to the representable ends. */
    tl_time_format_rfc3339(INT64_MAX, buf, sizeof buf);
    assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
    tl_time_format_rfc3339(INT64_MIN, buf, sizeof buf);
    assert_string_equal(buf, "0000-01-01T00:00:00.000Z");
    /* Too small a buffer: nothing written but an empty string. */
    char small[24];
    memset(small, 'x', sizeof small);
    assert_int_equal(tl_time_format_rfc3339(0, small, sizeof small), 0);
    assert_int_equal(small[0], '\0');
}

/* Random instants from year 0 to 9999: our formatter agrees with gmtime_r, our parser with
 * timegm, and format/parse round-trips. */
static void test_timefmt_matches_libc_on_random_instants(void **state)
{
    (void)state;
    tl_test_rng rng = {12345};
    const int64_t lo = INT64_C(-62167219200000), hi = INT64_C(253402300799999);
    for (int i = 0; i < 20000; i++) {
        int64_t ms = lo + (int64_t)(tl_test_rand(&rng) % (uint64_t)(hi - lo + 1));
        if (i < 8) /* edges */
            ms = (int64_t[]){lo, hi, 0, -1, 1, INT64_C(951782400000), INT64_C(4107542400000),
                             INT64_C(-2203891200000)}[i];
        char buf[25], want[64];
        assert_int_equal(tl_time_format_rfc3339(ms, buf, sizeof buf), 24);

        time_t secs = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
        int frac = (int)(ms - (int64_t)secs * 1000);
        struct tm tm;
        assert_non_null(gmtime_r(&secs, &tm));
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        assert_string_equal(buf, want);

        int64_t back = 0;
        assert_int_equal(tl_time_parse_rfc3339(buf, 24, &back), 0);
        assert_int_equal(back, ms);
        assert_int_equal((int64_t)timegm(&tm) * 1000 + frac, back);
    }
}

static void test_timefmt_duration_parse_valid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"0", 0},
        {"0s", 0},
        {"500ms", 500},
        {"15s", 15000},
        {"10m", 600000},
        {"1h30m", 5400000},
        {"7d", 604800000},
        {"1w", 604800000},
        {"1y", INT64_C(31536000000)},
        {"2h45m30s250ms", INT64_C(9930250)},
        {"1w2d", INT64_C(777600000)},
        {"90m", 5400000},
        {"1m1ms", 60001},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        size_t col = 99;
        if (tl_duration_parse(cases[i].s, strlen(cases[i].s), &ms, &col) != 0)
            fail_msg("rejected '%s' at %zu", cases[i].s, col);
        assert_int_equal(ms, cases[i].ms);
    }
}

static void test_timefmt_duration_parse_reports_column(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t col;
    } cases[] = {
        {"", 0},      {"10", 2},    {"5x", 1},   {"30m1h", 4}, {"1h1h", 3},
        {"-5m", 0},   {"1.5h", 1},  {"h", 0},    {"5 m", 1},   {"1m ", 2},
        {"1s1m", 3},  {"1ms1s", 4}, {"00", 2},   {"1ms5", 4},
        {"99999999999999999999s", 0},
        {"300000000y", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 7;
        size_t col = 99;
        if (tl_duration_parse(cases[i].s, strlen(cases[i].s), &ms, &col) == 0)
            fail_msg("accepted '%s'", cases[i].s);
        if (col != cases[i].col)
            fail_msg("'%s': column %zu, want %zu", cases[i].s, col, cases[i].col);
        assert_int_equal(ms, 7);
    }
    /* err_col may be NULL. */
    int64_t ms;
    assert_int_equal(tl_duration_parse("x", 1, &ms, NULL), -1);
}

static void test_timefmt_duration_format(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *s;
    } cases[] = {
        {600000, "10m"},     {5400000, "1h30m"},   {1500, "1s500ms"}, {0, "0s"},
        {250, "250ms"},      {604800000, "1w"},    {86400000, "1d"},  {-15000, "-15s"},
        {INT64_C(31536000000) + 1, "1y1ms"},       {INT64_C(9930250), "2h45m30s250ms"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = tl_duration_format(cases[i].ms, buf, sizeof buf);
        assert_string_equal(buf, cases[i].s);
        assert_int_equal(n, strlen(cases[i].s));
    }
    /* Truncation to cap, still terminated. */
    assert_int_equal(tl_duration_format(5400000, buf, 3), 2);
    assert_string_equal(buf, "1h");
    tl_duration_format(INT64_MIN, buf, sizeof buf); /* must not overflow */
    assert_int_equal(buf[0], '-');
}

static void test_timefmt_duration_round_trip(void **state)
{
    (void)state;
    tl_test_rng rng = {777};
    char buf[64];
    for (int i = 0; i < 20000; i++) {
        int64_t ms = (int64_t)(tl_test_rand(&rng) >> (1 + tl_test_rand(&rng) % 62));
        size_t n = tl_duration_format(ms, buf, sizeof buf);
        int64_t back = -1;
        assert_int_equal(tl_duration_parse(buf, n, &back, NULL), 0);
        assert_int_equal(back, ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timefmt_parse_known_values),
        cmocka_unit_test(test_timefmt_parse_offsets_and_separators),
        cmocka_unit_test(test_timefmt_parse_rejects_malformed),
        cmocka_unit_test(test_timefmt_format_known_values),
        cmocka_unit_test(test_timefmt_matches_libc_on_random_instants),
        cmocka_unit_test(test_timefmt_duration_parse_valid),
        cmocka_unit_test(test_timefmt_duration_parse_reports_column),
        cmocka_unit_test(test_timefmt_duration_format),
        cmocka_unit_test(test_timefmt_duration_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
