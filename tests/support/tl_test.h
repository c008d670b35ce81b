/* tests/support/tl_test.h - helpers shared by the cmocka tests. */
#ifndef TL_TEST_H
#define TL_TEST_H

#include <stddef.h>
#include <stdint.h>

/* Deterministic xorshift RNG for randomized tests (seeded per test so failures reproduce). */
typedef struct tl_test_rng { uint64_t s; } tl_test_rng;
static inline uint64_t tl_test_rand(tl_test_rng *r)
{
    uint64_t x = r->s ? r->s : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->s = x;
    return x;
}
static inline double tl_test_rand01(tl_test_rng *r) { return (tl_test_rand(r) >> 11) * (1.0 / 9007199254740992.0); }

/* Read a whole file into a NUL-terminated heap buffer (caller frees); NULL on error. */
char *tl_test_read_file(const char *path, size_t *len);

/* Write text to /tmp/tl-it-<name>-<pid>.yaml (a rules or config file for one test process),
 * its path into path[cap]. Returns path, or NULL if it cannot be written. */
char *tl_test_write_temp(char *path, size_t cap, const char *name, const char *text);

#endif
