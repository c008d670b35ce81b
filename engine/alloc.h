/* engine/alloc.h - every allocation in tripline goes through here.
 *
 * The binary links jemalloc as the process allocator (see CMakeLists.txt), so these are thin
 * wrappers. They exist for two reasons (Redis zmalloc.h, Lua's test allocator):
 *  - tests can make the Nth allocation fail (tl_alloc_fail_after) and check the OOM paths;
 *  - the steady-state hygiene check counts calls (tl_alloc_count) to prove the per-event
 *    path allocates nothing.
 * Thread-safe; the counters are relaxed atomics (allocation is off the per-event path, so
 * their cost does not matter there).
 */
#ifndef TL_ALLOC_H
#define TL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *tl_malloc(size_t n);
void *tl_calloc(size_t count, size_t n);
void *tl_realloc(void *p, size_t n);
void tl_free(void *p); /* NULL is a no-op */
char *tl_strndup(const char *s, size_t n); /* always NUL-terminates */
char *tl_strdup(const char *s);

/* Test hooks: after `n` more successful allocations every allocation fails (-1: never). */
void tl_alloc_fail_after(int64_t n);
/* Number of allocation calls (malloc/calloc/realloc/strdup) made so far in the process. */
uint64_t tl_alloc_count(void);

#endif
