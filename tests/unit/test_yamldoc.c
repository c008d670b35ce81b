/* tests/unit/test_yamldoc.c - YAML document tree: positions, errors, typed readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "tl_test.h"
#include "yamldoc.h"

#define assert_contains(hay, needle)                                                           \
    do {                                                                                       \
        if (!strstr((hay), (needle)))                                                          \
            fail_msg("'%s' does not contain '%s'", (hay), (needle));                           \
    } while (0)

static tl_ydoc *load(const char *text, char *err, size_t cap)
{
    err[0] = '\0';
    return tl_ydoc_load_string("t.yaml", text, strlen(text), err, cap);
}

/* Load text that must fail; return the message. */
static const char *load_fail(const char *text)
{
    static char err[512];
    tl_ydoc *d = load(text, err, sizeof err);
    if (d) {
        tl_ydoc_destroy(d);
        fail_msg("expected a load error for: %s", text);
    }
    return err;
}

static void test_yamldoc_positions_and_styles(void **state)
{
    (void)state;
    char err[256];
    tl_ydoc *d = load("a: 1\nlist:\n  - x\n  - 'y'\n  - |\n    block\nq: \"10\"\n", err,
                      sizeof err);
    assert_non_null(d);
    const tl_ynode *r = d->root;
    assert_int_equal(r->type, TL_Y_MAP);
    assert_int_equal(r->n, 3);
    assert_string_equal(r->keys[1]->str, "list");
    assert_int_equal(r->keys[1]->line, 2);
    assert_int_equal(r->keys[1]->col, 1);
    const tl_ynode *a = tl_ynode_get(r, "a");
    assert_non_null(a);
    assert_int_equal(a->line, 1);
    assert_int_equal(a->col, 4);
    assert_int_equal(a->style, TL_YS_PLAIN);
    const tl_ynode *l = tl_ynode_get(r, "list");
    assert_int_equal(l->type, TL_Y_SEQ);
    assert_int_equal(l->n, 3);
    assert_int_equal(l->items[0]->line, 3);
    assert_int_equal(l->items[0]->col, 5);
    assert_string_equal(l->items[1]->str, "y");
    assert_int_equal(l->items[1]->style, TL_YS_QUOTED);
    assert_int_equal(l->items[2]->style, TL_YS_BLOCK);
    assert_string_equal(l->items[2]->str, "block\n");
    const tl_ynode *q = tl_ynode_get(r, "q");
    assert_int_equal(q->style, TL_YS_QUOTED);
    assert_int_equal(q->len, 2);
    assert_null(tl_ynode_get(r, "missing"));
    assert_null(tl_ynode_get(a, "a")); /* not a map */
    assert_string_equal(d->path, "t.yaml");
    tl_ydoc_destroy(d);
    tl_ydoc_destroy(NULL);
}

static void test_yamldoc_empty_document(void **state)
{
    (void)state;
    char err[256];
    tl_ydoc *d = load("", err, sizeof err);
    assert_non_null(d);
    assert_null(d->root);
    tl_ydoc_destroy(d);
    d = load("# only a comment\n", err, sizeof err);
    assert_non_null(d);
    assert_null(d->root);
    tl_ydoc_destroy(d);
}

static void test_yamldoc_syntax_error_position(void **state)
{
    (void)state;
    /* the unclosed flow sequence is detected where the next key starts */
    const char *e = load_fail("a: 1\nb: [1, 2\nc: 3\n");
    assert_string_equal(e, "t.yaml:3:2: did not find expected ',' or ']' (while parsing a flow "
                           "sequence that started at 2:4)");
    /* bad indentation */
    e = load_fail("a:\n  b: 1\n c: 2\n");
    assert_contains(e, "t.yaml:3:2: did not find expected key");
    e = load_fail("\"abc");
    assert_contains(e, "t.yaml:1:5: found unexpected end of stream");
}

static void test_yamldoc_reader_error_position(void **state)
{
    (void)state;
    const char *e = load_fail("a: 1\nb: \xff\n");
    assert_contains(e, "t.yaml:2:4: ");
    assert_contains(e, "0xFF");
}

static void test_yamldoc_duplicate_key_at_second(void **state)
{
    (void)state;
    const char *e = load_fail("a: 1\nb: 2\na: 3\n");
    assert_string_equal(e, "t.yaml:3:1: duplicate key 'a' (first defined at 1:1)");
    /* nested map */
    e = load_fail("outer:\n  x: 1\n  x: 2\n");
    assert_string_equal(e, "t.yaml:3:3: duplicate key 'x' (first defined at 2:3)");
}

static void test_yamldoc_duplicate_key_large_map(void **state)
{
    (void)state;
    /* more than 8 keys takes the sorting path; the earliest repeat in the file is reported */
    char text[512] = "";
    for (int i = 0; i < 12; i++) {
        char line[32];
        snprintf(line, sizeof line, "k%02d: %d\n", 11 - i, i);
        strcat(text, line);
    }
    strcat(text, "k03: again\n"); /* line 13 */
    strcat(text, "k11: again\n"); /* line 14: k11 sorts after k03, but 13 comes first */
    const char *e = load_fail(text);
    assert_string_equal(e, "t.yaml:13:1: duplicate key 'k03' (first defined at 9:1)");
}

static void test_yamldoc_second_document_rejected(void **state)
{
    (void)state;
    const char *e = load_fail("a: 1\n---\nb: 2\n");
    assert_contains(e, "t.yaml:2:1: only one YAML document");
}

static void test_yamldoc_alias_resolved(void **state)
{
    (void)state;
    char err[256];
    tl_ydoc *d = load("base: &b {x: 1}\nuse: *b\nv: &n 5\nw: *n\n", err, sizeof err);
    assert_non_null(d);
    const tl_ynode *use = tl_ynode_get(d->root, "use");
    assert_int_equal(use->type, TL_Y_MAP);
    assert_string_equal(tl_ynode_get(use, "x")->str, "1");
    assert_string_equal(tl_ynode_get(d->root, "w")->str, "5");
    tl_ydoc_destroy(d);
}

static void test_yamldoc_recursive_alias_rejected(void **state)
{
    (void)state;
    /* libyaml registers the anchor before the sequence's items, so this is a cycle */
    const char *e = load_fail("a: &x [1, *x]\n");
    assert_string_equal(e, "t.yaml:1:4: recursive alias is not supported");
    e = load_fail("a: *nope\n");
    assert_contains(e, "t.yaml:1:4: found undefined alias");
}

static void test_yamldoc_alias_bomb_rejected(void **state)
{
    (void)state;
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    const char *e = load_fail(bomb);
    assert_contains(e, "expands to more than");
}

static void test_yamldoc_nesting_limit(void **state)
{
    (void)state;
    char text[1024];
    size_t o = 0;
    for (int i = 0; i < 300; i++)
        text[o++] = '[';
    for (int i = 0; i < 300; i++)
        text[o++] = ']';
    text[o] = '\0';
    const char *e = load_fail(text);
    assert_contains(e, "nesting deeper than");
    /* a reasonable depth is fine */
    char err[256];
    tl_ydoc *d = load("[[[[[[[[[[1]]]]]]]]]]", err, sizeof err);
    assert_non_null(d);
    tl_ydoc_destroy(d);
}

static void test_yamldoc_nonscalar_key_rejected(void **state)
{
    (void)state;
    const char *e = load_fail("? [a, b]\n: 1\n");
    assert_contains(e, "t.yaml:1:3: mapping keys must be scalars, got a sequence");
}

static void test_yamldoc_error_format(void **state)
{
    (void)state;
    char err[256];
    tl_ydoc *d = load("k: v\n", err, sizeof err);
    assert_non_null(d);
    assert_int_equal(tl_ydoc_error(d, d->root->items[0], err, sizeof err, "bad %s", "thing"),
                     -1);
    assert_string_equal(err, "t.yaml:1:4: bad thing");
    tl_ydoc_error(d, NULL, err, sizeof err, "no position");
    assert_string_equal(err, "t.yaml: no position");
    /* truncation is safe */
    char small[8];
    tl_ydoc_error(d, d->root, small, sizeof small, "a long message");
    assert_int_equal(strlen(small), 7);
    tl_ydoc_destroy(d);
}

static void test_yamldoc_str_reader(void **state)
{
    (void)state;
    char err[256];
    tl_ydoc *d = load("s: hello\nm: {b: 1}\nq: [1]\n", err, sizeof err);
    assert_non_null(d);
    const char *s = NULL;
    assert_int_equal(tl_ynode_str(d, tl_ynode_get(d->root, "s"), &s, err, sizeof err), 0);
    assert_string_equal(s, "hello");
    assert_int_equal(tl_ynode_str(d, tl_ynode_get(d->root, "m"), &s, err, sizeof err), -1);
    assert_string_equal(err, "t.yaml:2:4: expected a string, got a mapping");
    assert_int_equal(tl_ynode_str(d, tl_ynode_get(d->root, "q"), &s, err, sizeof err), -1);
    assert_string_equal(err, "t.yaml:3:4: expected a string, got a sequence");
    tl_ydoc_destroy(d);
}

static void test_yamldoc_int_reader(void **state)
{
    (void)state;
    char err[256];
    tl_ydoc *d = load("a: 42\nb: -7\nc: x\nd: 3.5\ne: 100\nf: 99999999999999999999\ng: \"12\"\n"
                      "h: -9223372036854775808\ni: ''\n",
                      err, sizeof err);
    assert_non_null(d);
    int64_t v = 0;
    assert_int_equal(tl_ynode_int(d, tl_ynode_get(d->root, "a"), 0, 64, &v, err, sizeof err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(tl_ynode_int(d, tl_ynode_get(d->root, "b"), -10, 10, &v, err, sizeof err),
                     0);
    assert_int_equal(v, -7);
    assert_int_equal(tl_ynode_int(d, tl_ynode_get(d->root, "c"), 0, 64, &v, err, sizeof err),
                     -1);
    assert_string_equal(err, "t.yaml:3:4: expected an integer in 0..64, got 'x'");
    assert_int_equal(tl_ynode_int(d, tl_ynode_get(d->root, "d"), 0, 64, &v, err, sizeof err),
                     -1);
    assert_string_equal(err, "t.yaml:4:4: expected an integer in 0..64, got '3.5'");
    assert_int_equal(tl_ynode_int(d, tl_ynode_get(d->root, "e"), 0, 64, &v, err, sizeof err),
                     -1);
    assert_string_equal(err, "t.yaml:5:4: 100 is out of range 0..64");
    assert_int_equal(
        tl_ynode_int(d, tl_ynode_get(d->root, "f"), 0, INT64_MAX, &v, err, sizeof err), -1);
    assert_contains(err, "t.yaml:6:4: 99999999999999999999 is out of range 0..");
    assert_int_equal(tl_ynode_int(d, tl_ynode_get(d->root, "g"), 0, 64, &v, err, sizeof err), 0);
    assert_int_equal(v, 12);
    assert_int_equal(
        tl_ynode_int(d, tl_ynode_get(d->root, "h"), INT64_MIN, 0, &v, err, sizeof err), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(tl_ynode_int(d, tl_ynode_get(d->root, "i"), 0, 1, &v, err, sizeof err),
                     -1);
    assert_contains(err, "t.yaml:9:4: expected an integer in 0..1, got ''");
    tl_ydoc_destroy(d);
}

static void test_yamldoc_double_reader(void **state)
{
    (void)state;
    char err[256];
    tl_ydoc *d = load("a: 0.25\nb: -3e2\nc: 1.5x\nd: nan\n", err, sizeof err);
    assert_non_null(d);
    double v = 0;
    assert_int_equal(tl_ynode_double(d, tl_ynode_get(d->root, "a"), &v, err, sizeof err), 0);
    assert_true(v == 0.25);
    assert_int_equal(tl_ynode_double(d, tl_ynode_get(d->root, "b"), &v, err, sizeof err), 0);
    assert_true(v == -300.0);
    assert_int_equal(tl_ynode_double(d, tl_ynode_get(d->root, "c"), &v, err, sizeof err), -1);
    assert_string_equal(err, "t.yaml:3:4: expected a number, got '1.5x'");
    assert_int_equal(tl_ynode_double(d, tl_ynode_get(d->root, "d"), &v, err, sizeof err), -1);
    tl_ydoc_destroy(d);
}

static void test_yamldoc_bool_reader(void **state)
{
    (void)state;
    char err[256];
    tl_ydoc *d = load("- true\n- Yes\n- OFF\n- on\n- no\n- FALSE\n- 'true'\n- maybe\n- 1\n", err,
                      sizeof err);
    assert_non_null(d);
    const int want[6] = {1, 1, 0, 1, 0, 0};
    for (int i = 0; i < 6; i++) {
        int v = -1;
        assert_int_equal(tl_ynode_bool(d, d->root->items[i], &v, err, sizeof err), 0);
        assert_int_equal(v, want[i]);
    }
    int v;
    assert_int_equal(tl_ynode_bool(d, d->root->items[6], &v, err, sizeof err), -1);
    assert_string_equal(err, "t.yaml:7:3: expected a boolean (true/false), got the quoted "
                             "string 'true'");
    assert_int_equal(tl_ynode_bool(d, d->root->items[7], &v, err, sizeof err), -1);
    assert_string_equal(err,
                        "t.yaml:8:3: expected a boolean (true/false/yes/no/on/off), got 'maybe'");
    assert_int_equal(tl_ynode_bool(d, d->root->items[8], &v, err, sizeof err), -1);
    tl_ydoc_destroy(d);
}

static void test_yamldoc_duration_reader(void **state)
{
    (void)state;
    char err[256];
    tl_ydoc *d = load("a: 10m\nb: 1h30m\nc: 10x\nd: \"1h5q\"\ne: 250ms\nf: [1]\n", err,
                      sizeof err);
    assert_non_null(d);
    int64_t ms = 0;
    assert_int_equal(tl_ynode_duration(d, tl_ynode_get(d->root, "a"), &ms, err, sizeof err), 0);
    assert_int_equal(ms, 600000);
    assert_int_equal(tl_ynode_duration(d, tl_ynode_get(d->root, "b"), &ms, err, sizeof err), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(tl_ynode_duration(d, tl_ynode_get(d->root, "e"), &ms, err, sizeof err), 0);
    assert_int_equal(ms, 250);
    /* the column points at the bad character */
    assert_int_equal(tl_ynode_duration(d, tl_ynode_get(d->root, "c"), &ms, err, sizeof err), -1);
    assert_contains(err, "t.yaml:3:6: invalid duration '10x'");
    assert_int_equal(tl_ynode_duration(d, tl_ynode_get(d->root, "d"), &ms, err, sizeof err), -1);
    assert_contains(err, "t.yaml:4:8: invalid duration '1h5q'");
    assert_int_equal(tl_ynode_duration(d, tl_ynode_get(d->root, "f"), &ms, err, sizeof err), -1);
    assert_contains(err, "t.yaml:6:4: expected a duration");
    tl_ydoc_destroy(d);
}

static void test_yamldoc_check_keys_suggests(void **state)
{
    (void)state;
    static const char *const allowed[] = {"window", "alerts", "threads", NULL};
    char err[256];
    tl_ydoc *d = load("window: 1\nthreds: 2\n", err, sizeof err);
    assert_non_null(d);
    assert_int_equal(tl_ynode_check_keys(d, d->root, allowed, err, sizeof err), -1);
    assert_string_equal(err, "t.yaml:2:1: unknown key 'threds' (did you mean 'threads'?)");
    tl_ydoc_destroy(d);

    d = load("alerts: 1\nwindw: 2\n", err, sizeof err);
    assert_int_equal(tl_ynode_check_keys(d, d->root, allowed, err, sizeof err), -1);
    assert_string_equal(err, "t.yaml:2:1: unknown key 'windw' (did you mean 'window'?)");
    tl_ydoc_destroy(d);

    /* adjacent swap counts as one edit */
    d = load("aletrs: 1\n", err, sizeof err);
    assert_int_equal(tl_ynode_check_keys(d, d->root, allowed, err, sizeof err), -1);
    assert_contains(err, "did you mean 'alerts'?");
    tl_ydoc_destroy(d);

    d = load("zzz: 1\n", err, sizeof err);
    assert_int_equal(tl_ynode_check_keys(d, d->root, allowed, err, sizeof err), -1);
    assert_string_equal(err,
                        "t.yaml:1:1: unknown key 'zzz' (expected one of: window, alerts, threads)");
    tl_ydoc_destroy(d);

    d = load("window: 1\nalerts: 2\n", err, sizeof err);
    assert_int_equal(tl_ynode_check_keys(d, d->root, allowed, err, sizeof err), 0);
    tl_ydoc_destroy(d);

    d = load("- a\n", err, sizeof err);
    assert_int_equal(tl_ynode_check_keys(d, d->root, allowed, err, sizeof err), -1);
    assert_string_equal(err, "t.yaml:1:1: expected a mapping, got a sequence");
    tl_ydoc_destroy(d);
}

static void test_yamldoc_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/tl_yamldoc_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "key: value\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char err[256];
    tl_ydoc *d = tl_ydoc_load_file(path, err, sizeof err);
    assert_non_null(d);
    assert_string_equal(d->path, path);
    assert_string_equal(tl_ynode_get(d->root, "key")->str, "value");
    tl_ydoc_destroy(d);
    unlink(path);

    assert_null(tl_ydoc_load_file("/nonexistent/x.yaml", err, sizeof err));
    assert_contains(err, "/nonexistent/x.yaml: cannot open");
}

/* Every allocation failure point yields NULL and a message, never a leak or a crash. */
static void test_yamldoc_out_of_memory(void **state)
{
    (void)state;
    const char *text = "a: [1, 2, {b: c}]\nd: &x e\nf: *x\ng: {h: 1, i: 2, j: 3, k: 4, l: 5, "
                       "m: 6, n: 7, o: 8, p: 9}\n";
    char err[256];
    int succeeded = 0;
    for (int64_t n = 0; n < 200 && !succeeded; n++) {
        tl_alloc_fail_after(n);
        tl_ydoc *d = load(text, err, sizeof err);
        tl_alloc_fail_after(-1);
        if (d) {
            succeeded = 1;
            tl_ydoc_destroy(d);
        } else {
            assert_contains(err, "out of memory");
        }
    }
    assert_true(succeeded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yamldoc_positions_and_styles),
        cmocka_unit_test(test_yamldoc_empty_document),
        cmocka_unit_test(test_yamldoc_syntax_error_position),
        cmocka_unit_test(test_yamldoc_reader_error_position),
        cmocka_unit_test(test_yamldoc_duplicate_key_at_second),
        cmocka_unit_test(test_yamldoc_duplicate_key_large_map),
        cmocka_unit_test(test_yamldoc_second_document_rejected),
        cmocka_unit_test(test_yamldoc_alias_resolved),
        cmocka_unit_test(test_yamldoc_recursive_alias_rejected),
        cmocka_unit_test(test_yamldoc_alias_bomb_rejected),
        cmocka_unit_test(test_yamldoc_nesting_limit),
        cmocka_unit_test(test_yamldoc_nonscalar_key_rejected),
        cmocka_unit_test(test_yamldoc_error_format),
        cmocka_unit_test(test_yamldoc_str_reader),
        cmocka_unit_test(test_yamldoc_int_reader),
        cmocka_unit_test(test_yamldoc_double_reader),
        cmocka_unit_test(test_yamldoc_bool_reader),
        cmocka_unit_test(test_yamldoc_duration_reader),
        cmocka_unit_test(test_yamldoc_check_keys_suggests),
        cmocka_unit_test(test_yamldoc_load_file),
        cmocka_unit_test(test_yamldoc_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
