/* engine/alloc.c - allocation wrappers with a failure-injection and counting hook. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static _Atomic int64_t fail_after = -1;
static _Atomic uint64_t count;

static int should_fail(void)
{
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    int64_t f = atomic_load_explicit(&fail_after, memory_order_relaxed);
    if (f < 0)
        return 0;
    if (f == 0)
        return 1;
    atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
    return 0;
}

void *tl_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }
void *tl_calloc(size_t c, size_t n) { return should_fail() ? NULL : calloc(c ? c : 1, n ? n : 1); }
void *tl_realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }
void tl_free(void *p) { free(p); }

char *tl_strndup(const char *s, size_t n)
{
    char *d = tl_malloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *tl_strdup(const char *s) { return tl_strndup(s, strlen(s)); }

void tl_alloc_fail_after(int64_t n) { atomic_store(&fail_after, n); }
uint64_t tl_alloc_count(void) { return atomic_load_explicit(&count, memory_order_relaxed); }
