/* tests/fuzz/fuzz_json.c - libFuzzer target for the JSON trace-event decoder.
 *
 * Arbitrary bytes go to tl_json_decode(). It must never crash or read outside the input
 * (ASan), must report a known error code at an offset inside the message on failure, and on
 * success every view must point into the message or the scratch. A successful decode is then
 * re-encoded with tl_json_encode_event() and decoded again: that must succeed and give the
 * same fields (attribute values keep their text, numbers compare equal).
 *
 * Build: cmake -DTL_FUZZ=ON with clang; run: ./fuzz_json tests/fuzz/corpus/json
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_decode.h"
#include "json_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_json: check failed: %s (line %d)\n", #cond, __LINE__);        \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static int inside(tl_str s, const char *lo, size_t n)
{
    return s.n == 0 || (s.p >= lo && s.p + s.n <= lo + n);
}

static int view_ok(tl_str s, const char *msg, size_t len, const tl_json_scratch *sc)
{
    return inside(s, msg, len) || inside(s, sc->buf, sc->used);
}

static void check_views(const tl_event *ev, const char *msg, size_t len, const tl_json_scratch *sc)
{
    CHECK(ev->ts_ms >= 0);
    CHECK(ev->n_flags <= TL_EVENT_MAX_FLAGS);
    CHECK(ev->n_attrs <= TL_EVENT_MAX_ATTRS);
    for (int f = 0; f < TL_S__COUNT; f++)
        if (ev->str_present & (1u << f))
            CHECK(view_ok(ev->str[f], msg, len, sc));
    for (int f = 0; f < TL_N__COUNT; f++)
        if (ev->num_present & (1u << f))
            CHECK(ev->num[f] - ev->num[f] == 0); /* finite */
    for (uint32_t i = 0; i < ev->n_flags; i++)
        CHECK(view_ok(ev->flags[i], msg, len, sc));
    for (uint32_t i = 0; i < ev->n_attrs; i++) {
        CHECK(view_ok(ev->attr_key[i], msg, len, sc));
        CHECK(view_ok(ev->attr_val[i], msg, len, sc));
    }
}

static void check_same(const tl_event *a, const tl_event *b)
{
    CHECK(a->ts_ms == b->ts_ms);
    CHECK(a->str_present == b->str_present);
    CHECK(a->num_present == b->num_present);
    for (int f = 0; f < TL_S__COUNT; f++)
        if (a->str_present & (1u << f))
            CHECK(tl_str_eq(a->str[f], b->str[f]));
    for (int f = 0; f < TL_N__COUNT; f++)
        if (a->num_present & (1u << f))
            CHECK(a->num[f] == b->num[f]);
    CHECK(a->n_flags == b->n_flags);
    for (uint32_t i = 0; i < a->n_flags; i++)
        CHECK(tl_str_eq(a->flags[i], b->flags[i]));
    CHECK(a->n_attrs == b->n_attrs);
    for (uint32_t i = 0; i < a->n_attrs; i++) {
        CHECK(tl_str_eq(a->attr_key[i], b->attr_key[i]));
        CHECK(tl_str_eq(a->attr_val[i], b->attr_val[i]));
    }
}

static tl_event ev1, ev2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    /* An exact-size copy so ASan sees any over-read; scratch as large as the message. */
    char *msg = malloc(size ? size : 1);
    char *scratch1 = malloc(size + 1), *scratch2 = NULL, *enc = NULL;
    if (!msg || !scratch1)
        goto out;
    if (size)
        memcpy(msg, data, size);
    tl_json_scratch sc1 = {scratch1, size + 1, 0};
    tl_decode_err err;
    memset(&err, 0, sizeof err);

    if (tl_json_decode(msg, size, &ev1, &sc1, &err) != 0) {
        CHECK(err.code > TL_DECODE_OK && err.code < TL_DECODE__COUNT);
        CHECK(err.offset <= size);
        CHECK(memchr(err.detail, '\0', sizeof err.detail) != NULL);
        goto out;
    }
    CHECK(sc1.used <= sc1.cap);
    check_views(&ev1, msg, size, &sc1);

    /* Every byte escapes to at most 6 ("\u00XX"), plus keys and punctuation. */
    size_t cap = 6 * size + 4096;
    enc = malloc(cap);
    scratch2 = malloc(cap);
    if (!enc || !scratch2)
        goto out;
    size_t n = tl_json_encode_event(&ev1, enc, cap);
    CHECK(n > 0);
    tl_json_scratch sc2 = {scratch2, cap, 0};
    if (tl_json_decode(enc, n, &ev2, &sc2, &err) != 0) {
        fprintf(stderr, "re-decode failed: %s at %u (%s)\n%.*s\n", tl_decode_code_name(err.code),
                err.offset, err.detail, (int)n, enc);
        abort();
    }
    check_same(&ev1, &ev2);
out:
    free(msg);
    free(scratch1);
    free(scratch2);
    free(enc);
    return 0;
}
