/* tests/unit/test_template.c - summary templates (engine/template.c): compile errors with
 * columns, placeholder lookup, untrusted-value sanitising and truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "alert.h"
#include "alloc.h"
#include "template.h"

/* Lookup over a small fixed table; values may contain NULs, so lengths are explicit. */
typedef struct kv {
    const char *k;
    const char *v;
    size_t n;
} kv;

typedef struct kv_table {
    const kv *items;
    size_t count;
    int calls;
} kv_table;

static const char *kv_lookup(void *ctx, const char *name, size_t *n)
{
    kv_table *t = ctx;
    t->calls++;
    for (size_t i = 0; i < t->count; i++) {
        if (strcmp(t->items[i].k, name) == 0) {
            *n = t->items[i].n;
            return t->items[i].v;
        }
    }
    return NULL;
}

#define KV(k, v) {(k), (v), sizeof(v) - 1}

static tl_template *compile_ok(const char *src)
{
    char err[128] = "";
    size_t col = 999;
    tl_template *t = tl_template_compile(src, strlen(src), err, sizeof err, &col);
    if (!t)
        fail_msg("compile '%s' failed: %s at %zu", src, err, col);
    return t;
}

static void expect_error(const char *src, size_t want_col, const char *want_substr)
{
    char err[128] = "";
    size_t col = 999;
    tl_template *t = tl_template_compile(src, strlen(src), err, sizeof err, &col);
    assert_null(t);
    assert_int_equal(col, want_col);
    if (!strstr(err, want_substr))
        fail_msg("error for '%s' is '%s', expected it to contain '%s'", src, err, want_substr);
}

static void test_template_placeholders_with_and_without_spaces(void **state)
{
    (void)state;
    static const kv items[] = {KV("tool", "get_order"), KV("value", "23.4%"),
                               KV("service", "bot")};
    kv_table tab = {items, 3, 0};
    tl_template *t = compile_ok("{{tool}} fails {{ value }} on {{\tservice  }}!");
    assert_int_equal(tl_template_nvars(t), 3);
    size_t col = 0;
    assert_string_equal(tl_template_var(t, 0, &col), "tool");
    assert_int_equal(col, 0);
    assert_string_equal(tl_template_var(t, 1, &col), "value");
    assert_int_equal(col, 15);
    assert_string_equal(tl_template_var(t, 2, &col), "service");
    assert_int_equal(col, 30);
    assert_null(tl_template_var(t, 3, &col));

    char out[128];
    size_t n = tl_template_render(t, kv_lookup, &tab, out, sizeof out);
    assert_string_equal(out, "get_order fails 23.4% on bot!");
    assert_int_equal(n, strlen(out));
    assert_int_equal(tab.calls, 3);
    tl_template_destroy(t);
}

static void test_template_unknown_name_renders_empty(void **state)
{
    (void)state;
    static const kv items[] = {KV("tool", "x")};
    kv_table tab = {items, 1, 0};
    tl_template *t = compile_ok("[{{ nope }}] [{{tool}}]");
    char out[64];
    size_t n = tl_template_render(t, kv_lookup, &tab, out, sizeof out);
    assert_string_equal(out, "[] [x]");
    assert_int_equal(n, 6);
    /* a NULL lookup function renders every placeholder empty */
    n = tl_template_render(t, NULL, NULL, out, sizeof out);
    assert_string_equal(out, "[] []");
    assert_int_equal(n, 5);
    tl_template_destroy(t);
}

static void test_template_no_placeholders(void **state)
{
    (void)state;
    kv_table tab = {NULL, 0, 0};
    tl_template *t = compile_ok("plain text, with } and { braces");
    assert_int_equal(tl_template_nvars(t), 0);
    assert_null(tl_template_var(t, 0, NULL));
    char out[64];
    size_t n = tl_template_render(t, kv_lookup, &tab, out, sizeof out);
    assert_string_equal(out, "plain text, with } and { braces");
    assert_int_equal(n, strlen(out));
    assert_int_equal(tab.calls, 0);
    tl_template_destroy(t);

    /* the empty template */
    t = tl_template_compile("", 0, NULL, 0, NULL);
    assert_non_null(t);
    memset(out, 'X', sizeof out);
    assert_int_equal(tl_template_render(t, kv_lookup, &tab, out, sizeof out), 0);
    assert_string_equal(out, "");
    tl_template_destroy(t);
}

static void test_template_compile_error_columns(void **state)
{
    (void)state;
    expect_error("abc {{ tool", 4, "closing");
    expect_error("{{", 0, "closing");
    expect_error("ok {{a}} then {{ b }", 14, "closing");
    expect_error("x{{ }}", 1, "empty");
    expect_error("{{}}", 0, "empty");
    expect_error("ab {{   }} cd", 3, "empty");
    expect_error("{{ a b }}", 5, "unexpected");
    expect_error("{{ {a} }}", 3, "unexpected");

    /* errbuf and err_col are optional */
    assert_null(tl_template_compile("{{", 2, NULL, 0, NULL));
    /* the error message is cut to errcap */
    char small[6];
    size_t col = 0;
    assert_null(tl_template_compile("zz {{", 5, small, sizeof small, &col));
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(col, 3);
}

static void test_template_respects_length_not_nul(void **state)
{
    (void)state;
    /* only the first n bytes are the template: the "{{" after them is not seen */
    const char *src = "hi {{ a }}{{";
    tl_template *t = tl_template_compile(src, 10, NULL, 0, NULL);
    assert_non_null(t);
    static const kv items[] = {KV("a", "A")};
    kv_table tab = {items, 1, 0};
    char out[16];
    tl_template_render(t, kv_lookup, &tab, out, sizeof out);
    assert_string_equal(out, "hi A");
    tl_template_destroy(t);
}

static void test_template_strips_control_characters(void **state)
{
    (void)state;
    static const kv items[] = {
        KV("v", "a\x1b[31mb\nc\td\x7f" "e\0f\r"),
    };
    kv_table tab = {items, 1, 0};
    tl_template *t = compile_ok("<{{v}}>");
    char out[64];
    size_t n = tl_template_render(t, kv_lookup, &tab, out, sizeof out);
    assert_string_equal(out, "<a[31mbcdef>");
    assert_int_equal(n, strlen(out));
    tl_template_destroy(t);
}

static void test_template_truncates_value_at_utf8_boundary(void **state)
{
    (void)state;
    /* 127 ASCII bytes then "é" (2 bytes): byte 128 would split the character */
    char v[TL_ALERT_LABEL_MAX + 16];
    memset(v, 'a', TL_ALERT_LABEL_MAX - 1);
    memcpy(v + TL_ALERT_LABEL_MAX - 1, "\xc3\xa9zz", 4);
    kv items[] = {{"v", v, TL_ALERT_LABEL_MAX + 3}};
    kv_table tab = {items, 1, 0};
    tl_template *t = compile_ok("{{v}}|");
    char out[512];
    size_t n = tl_template_render(t, kv_lookup, &tab, out, sizeof out);
    assert_int_equal(n, TL_ALERT_LABEL_MAX - 1 + 1);
    assert_memory_equal(out, v, TL_ALERT_LABEL_MAX - 1);
    assert_string_equal(out + TL_ALERT_LABEL_MAX - 1, "|");

    /* exactly TL_ALERT_LABEL_MAX bytes are kept when the cut falls between characters */
    memset(v, 'b', sizeof v);
    items[0].n = TL_ALERT_LABEL_MAX + 10;
    n = tl_template_render(t, kv_lookup, &tab, out, sizeof out);
    assert_int_equal(n, TL_ALERT_LABEL_MAX + 1);

    /* the budget counts kept bytes: stripped control bytes do not use it up */
    char w[TL_ALERT_LABEL_MAX * 2];
    for (size_t i = 0; i < sizeof w; i++)
        w[i] = (i % 2) ? 'c' : '\n';
    items[0].v = w;
    items[0].n = sizeof w;
    n = tl_template_render(t, kv_lookup, &tab, out, sizeof out);
    assert_int_equal(n, TL_ALERT_LABEL_MAX + 1);
    for (size_t i = 0; i < TL_ALERT_LABEL_MAX; i++)
        assert_int_equal(out[i], 'c');

    /* a 4-byte character straddling the limit is dropped whole */
    memset(v, 'd', sizeof v);
    memcpy(v + TL_ALERT_LABEL_MAX - 2, "\xf0\x9f\x98\x80", 4);
    items[0].v = v;
    items[0].n = TL_ALERT_LABEL_MAX + 2;
    n = tl_template_render(t, kv_lookup, &tab, out, sizeof out);
    assert_int_equal(n, TL_ALERT_LABEL_MAX - 2 + 1);
    assert_string_equal(out + TL_ALERT_LABEL_MAX - 2, "|");
    tl_template_destroy(t);
}

static void test_template_truncates_output_to_cap(void **state)
{
    (void)state;
    static const kv items[] = {KV("x", "\xc3\xa9\xc3\xa9")}; /* "éé" */
    kv_table tab = {items, 1, 0};
    tl_template *t = compile_ok("ab{{x}}cd");
    const char *full = "ab\xc3\xa9\xc3\xa9" "cd";
    size_t full_n = strlen(full);
    char out[32];
    memset(out, 'X', sizeof out);
    assert_int_equal(tl_template_render(t, kv_lookup, &tab, out, 0), 0);
    assert_int_equal(out[0], 'X');
    for (size_t cap = 1; cap <= full_n + 2; cap++) {
        memset(out, 'X', sizeof out);
        size_t n = tl_template_render(t, kv_lookup, &tab, out, cap);
        assert_true(n < cap);
        assert_int_equal(out[n], '\0');
        assert_int_equal(out[cap], 'X'); /* nothing past cap */
        assert_memory_equal(out, full, n); /* a prefix of the full output */
        /* never ends inside the 2-byte characters at offsets 2..5 */
        assert_true(n != 3 && n != 5);
        if (cap > full_n)
            assert_int_equal(n, full_n);
        else
            assert_true(n + 1 >= cap - 1); /* loses at most one partial character */
    }
    tl_template_destroy(t);
}

static void test_template_out_of_memory_fails_cleanly(void **state)
{
    (void)state;
    char err[64] = "";
    size_t col = 7;
    tl_alloc_fail_after(0);
    tl_template *t = tl_template_compile("a {{b}}", 7, err, sizeof err, &col);
    tl_alloc_fail_after(-1);
    assert_null(t);
    assert_non_null(strstr(err, "memory"));
    tl_template_destroy(NULL); /* no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_placeholders_with_and_without_spaces),
        cmocka_unit_test(test_template_unknown_name_renders_empty),
        cmocka_unit_test(test_template_no_placeholders),
        cmocka_unit_test(test_template_compile_error_columns),
        cmocka_unit_test(test_template_respects_length_not_nul),
        cmocka_unit_test(test_template_strips_control_characters),
        cmocka_unit_test(test_template_truncates_value_at_utf8_boundary),
        cmocka_unit_test(test_template_truncates_output_to_cap),
        cmocka_unit_test(test_template_out_of_memory_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
