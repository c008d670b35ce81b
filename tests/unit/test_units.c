/* tests/unit/test_units.c - unit names and human formatting (engine/units.c).
 * The examples from engine/units.h are the contract; each one is asserted here. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "units.h"

static void check(double v, tl_unit u, const char *want)
{
    char buf[64];
    memset(buf, 'X', sizeof buf);
    size_t n = tl_unit_format(v, u, buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_units_names(void **state)
{
    (void)state;
    assert_string_equal(tl_unit_name(TL_UNIT_NONE), "none");
    assert_string_equal(tl_unit_name(TL_UNIT_COUNT), "count");
    assert_string_equal(tl_unit_name(TL_UNIT_RATIO), "ratio");
    assert_string_equal(tl_unit_name(TL_UNIT_MS), "ms");
    assert_string_equal(tl_unit_name(TL_UNIT_USD), "usd");
    assert_string_equal(tl_unit_name(TL_UNIT_TOKENS), "tokens");
    assert_string_equal(tl_unit_name(TL_UNIT_PER_SEC), "per_second");
    assert_string_equal(tl_unit_name(TL_UNIT__COUNT), "unknown");
    assert_string_equal(tl_unit_name((tl_unit)-1), "unknown");
}

static void test_units_ratio_header_examples(void **state)
{
    (void)state;
    check(0.1234, TL_UNIT_RATIO, "12.3%");
    check(0.000123, TL_UNIT_RATIO, "0.0123%");
    check(0, TL_UNIT_RATIO, "0%");
    check(1, TL_UNIT_RATIO, "100%");
    check(0.234, TL_UNIT_RATIO, "23.4%");
    check(0.1, TL_UNIT_RATIO, "10%");
    check(0.99996, TL_UNIT_RATIO, "100%");
    check(12.5, TL_UNIT_RATIO, "1250%"); /* never exponent notation */
}

static void test_units_ms_header_examples(void **state)
{
    (void)state;
    check(850, TL_UNIT_MS, "850ms");
    check(15234, TL_UNIT_MS, "15.2s");
    check(150000, TL_UNIT_MS, "2.5m");
    check(7200000, TL_UNIT_MS, "2h");
    check(0, TL_UNIT_MS, "0ms");
    check(0.5, TL_UNIT_MS, "0.5ms");
    check(1000, TL_UNIT_MS, "1s");
    check(999.7, TL_UNIT_MS, "1s"); /* scale chosen after rounding: never "1000ms" */
    check(59990, TL_UNIT_MS, "1m");
    check(3 * 86400000.0, TL_UNIT_MS, "3d");
    check(-1500, TL_UNIT_MS, "-1.5s");
}

static void test_units_usd_header_examples(void **state)
{
    (void)state;
    check(0.01234, TL_UNIT_USD, "$0.0123");
    check(12.3456, TL_UNIT_USD, "$12.35");
    check(0, TL_UNIT_USD, "$0.00");
    check(0.5, TL_UNIT_USD, "$0.50");
    check(12, TL_UNIT_USD, "$12.00");
    check(-2.5, TL_UNIT_USD, "-$2.50");
    check(0.9999, TL_UNIT_USD, "$1.00");
}

static void test_units_count_tokens_header_examples(void **state)
{
    (void)state;
    check(42, TL_UNIT_COUNT, "42");
    check(12345, TL_UNIT_COUNT, "12.3k");
    check(2500000, TL_UNIT_COUNT, "2.5M");
    check(42, TL_UNIT_TOKENS, "42");
    check(12345, TL_UNIT_TOKENS, "12.3k");
    check(2500000, TL_UNIT_TOKENS, "2.5M");
    check(0, TL_UNIT_COUNT, "0");
    check(999, TL_UNIT_COUNT, "999");
    check(999999, TL_UNIT_COUNT, "1M");
    check(3e9, TL_UNIT_TOKENS, "3B");
}

static void test_units_per_sec_and_none_header_examples(void **state)
{
    (void)state;
    check(3.21, TL_UNIT_PER_SEC, "3.21/s");
    check(1500, TL_UNIT_PER_SEC, "1.5k/s");
    check(0.8, TL_UNIT_NONE, "0.8");
    check(1234, TL_UNIT_NONE, "1234");
    check(-0.25, TL_UNIT_NONE, "-0.25");
    check(0.123456, TL_UNIT_NONE, "0.1235");
    check(3.14159, TL_UNIT_NONE, "3.142");
    check(0, TL_UNIT_NONE, "0");
    check(-0.00001, TL_UNIT_NONE, "-0.00001");
    check(1e20, TL_UNIT_NONE, "1e+20");
}

static void test_units_nan_and_inf(void **state)
{
    (void)state;
    for (int u = 0; u < TL_UNIT__COUNT; u++) {
        check(NAN, (tl_unit)u, "n/a");
        check(INFINITY, (tl_unit)u, "inf");
        check(-INFINITY, (tl_unit)u, "-inf");
    }
}

static void test_units_truncates_to_cap(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'X', sizeof buf);
    assert_int_equal(tl_unit_format(0.1234, TL_UNIT_RATIO, buf, 0), 0);
    assert_int_equal(buf[0], 'X'); /* cap 0: nothing written */
    assert_int_equal(tl_unit_format(0.1234, TL_UNIT_RATIO, buf, 1), 0);
    assert_string_equal(buf, "");
    assert_int_equal(tl_unit_format(0.1234, TL_UNIT_RATIO, buf, 4), 3);
    assert_string_equal(buf, "12.");
    assert_int_equal(buf[4], 'X');
    assert_int_equal(tl_unit_format(0.1234, TL_UNIT_RATIO, buf, 6), 5);
    assert_string_equal(buf, "12.3%");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units_names),
        cmocka_unit_test(test_units_ratio_header_examples),
        cmocka_unit_test(test_units_ms_header_examples),
        cmocka_unit_test(test_units_usd_header_examples),
        cmocka_unit_test(test_units_count_tokens_header_examples),
        cmocka_unit_test(test_units_per_sec_and_none_header_examples),
        cmocka_unit_test(test_units_nan_and_inf),
        cmocka_unit_test(test_units_truncates_to_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
