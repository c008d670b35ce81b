/* include/tripline/str.h - string views.
 *
 * A tl_str is a pointer and a length into memory someone else owns: a Kafka message, a
 * decoder's scratch buffer, a rule's constant pool. It is never NUL-terminated by contract,
 * so compare with tl_str_eq()/tl_str_eq_lit(), never strcmp(). Views are what let the
 * per-event path read fields without copying or allocating.
 */
#ifndef TL_STR_H
#define TL_STR_H

#include <stdint.h>
#include <string.h>

typedef struct tl_str {
    const char *p; /* may be NULL when n == 0 */
    uint32_t n;
} tl_str;

#define TL_STR_LIT(s) ((tl_str){(s), (uint32_t)(sizeof(s) - 1)})

static inline tl_str tl_str_make(const char *p, size_t n) { return (tl_str){p, (uint32_t)n}; }
static inline tl_str tl_str_c(const char *s) { return (tl_str){s, s ? (uint32_t)strlen(s) : 0}; }

/* Equality of n bytes for the short keys of hash-table lookups (series keys, trace ids), where
 * the compare almost always matches: 8-byte words, the last one overlapping, beat a call into
 * libc's memcmp and its length dispatch. */
static inline int tl_bytes_eq(const void *pa, const void *pb, size_t n)
{
    const char *a = pa, *b = pb;
    if (n < 8)
        return memcmp(a, b, n) == 0;
    uint64_t x, y, diff = 0;
    for (size_t i = 0; i + 8 < n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return (diff | (x ^ y)) == 0;
}

static inline int tl_str_eq(tl_str a, tl_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline int tl_str_eq_c(tl_str a, const char *s)
{
    size_t n = strlen(s);
    return a.n == n && (n == 0 || memcmp(a.p, s, n) == 0);
}

#endif
