/* tests/tsan/c11threads.c - librdkafka's threads and locks made visible to ThreadSanitizer.
 * Linked into every executable of the Tsan build type (CMakeLists.txt), and nowhere else.
 *
 * Why: librdkafka 2.0.2 as packaged by Debian creates its threads with thrd_create and locks
 * with mtx_lock / cnd_wait (glibc's C11 threads). ThreadSanitizer (gcc 12's libtsan, clang 14's
 * too) intercepts the pthread entry points but none of the C11 ones, and glibc's C11 functions
 * call its internal __pthread_* symbols, which bypass the interceptors. So under TSan every
 * librdkafka thread starts unregistered (its first malloc crashes on TSan's missing per-thread
 * state: google/sanitizers#1603), and every happens-before edge through a librdkafka mutex or
 * condition variable (its queues: produced messages, delivery reports, fetched messages,
 * rebalance events) is invisible, which makes tripline's hand-offs through librdkafka look like
 * races.
 *
 * These definitions in the executable interpose on glibc's (a shared library's reference binds
 * to the executable's definition first) and do what glibc 2.36 does (nptl/thrd_create.c,
 * mtx_lock.c, cnd_wait.c, call_once.c, ...: thrd_t, mtx_t, cnd_t and once_flag are pthread_t,
 * pthread_mutex_t, pthread_cond_t and pthread_once_t), only through the public pthread functions
 * TSan intercepts. They change no behaviour, only what TSan sees.
 *
 * Also forwarded from here: the pthread_rwlock lock and unlock calls librdkafka makes directly
 * (its handle's and topics' locks). tests/tsan/tsan.supp has TSan ignore the libc calls that
 * come straight from librdkafka (called_from_lib); a lock call arriving from this file still
 * counts as synchronisation. Without it, a mutex librdkafka created on one thread under its
 * handle's write lock, then found and locked on another under the read lock, was reported.
 *
 * Deliberately not here: mtx_init, mtx_destroy, cnd_init, cnd_destroy and pthread_rwlock_init /
 * _destroy. They synchronise nothing; TSan would only record them as writes to the lock's memory,
 * and librdkafka destroys a lock when a reference count it decremented atomically (invisible to
 * TSan) reaches zero, so each destroy would be reported as racing with the lock's last use on
 * another thread. glibc's own versions run instead; TSan creates its lock state at the first
 * lock and drops it when the memory is freed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) >= sizeof(pthread_mutex_t), "mtx_t holds a pthread mutex");
_Static_assert(sizeof(cnd_t) >= sizeof(pthread_cond_t), "cnd_t holds a pthread condition");
_Static_assert(sizeof(once_flag) >= sizeof(pthread_once_t), "once_flag holds a pthread_once_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

/* glibc's thrd_err_map */
static int map(int err)
{
    switch (err) {
    case 0:
        return thrd_success;
    case ENOMEM:
        return thrd_nomem;
    case ETIMEDOUT:
        return thrd_timedout;
    case EBUSY:
        return thrd_busy;
    default:
        return thrd_error;
    }
}

/* ---- threads ---------------------------------------------------------------------------- */

typedef struct start {
    thrd_start_t func;
    void *arg;
} start;

static void *trampoline(void *p)
{
    start s = *(start *)p;
    free(p);
    return (void *)(intptr_t)s.func(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    start *s = malloc(sizeof *s);
    if (!s)
        return thrd_nomem;
    s->func = func;
    s->arg = arg;
    int err = pthread_create((pthread_t *)thr, NULL, trampoline, s);
    if (err)
        free(s);
    return map(err);
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret;
    int err = pthread_join((pthread_t)thr, &ret);
    if (err == 0 && res)
        *res = (int)(intptr_t)ret;
    return map(err);
}

int thrd_detach(thrd_t thr) { return map(pthread_detach((pthread_t)thr)); }

void thrd_exit(int res) { pthread_exit((void *)(intptr_t)res); }

/* ---- mutexes, condition variables, once ------------------------------------------------- */

int mtx_lock(mtx_t *m) { return map(pthread_mutex_lock((pthread_mutex_t *)m)); }
int mtx_trylock(mtx_t *m) { return map(pthread_mutex_trylock((pthread_mutex_t *)m)); }
int mtx_unlock(mtx_t *m) { return map(pthread_mutex_unlock((pthread_mutex_t *)m)); }

int cnd_signal(cnd_t *c) { return map(pthread_cond_signal((pthread_cond_t *)c)); }
int cnd_broadcast(cnd_t *c) { return map(pthread_cond_broadcast((pthread_cond_t *)c)); }
int cnd_wait(cnd_t *c, mtx_t *m)
{
    return map(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}
int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
    return map(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}

void call_once(once_flag *flag, void (*func)(void)) { pthread_once((pthread_once_t *)flag, func); }

/* ---- read-write locks: forwarded to the next definition (TSan's interceptor) ------------ */

typedef int (*rw_fn)(pthread_rwlock_t *);

/* Looked up once; relaxed atomics, as a plain static would itself race in this instrumented
 * file. */
static rw_fn next(rw_fn *cache, const char *name)
{
    rw_fn f = __atomic_load_n(cache, __ATOMIC_RELAXED);
    if (!f) {
        f = (rw_fn)dlsym(RTLD_NEXT, name);
        if (!f)
            abort();
        __atomic_store_n(cache, f, __ATOMIC_RELAXED);
    }
    return f;
}

#define FORWARD(name)                                                                         \
    int name(pthread_rwlock_t *l)                                                             \
    {                                                                                         \
        static rw_fn cache;                                                                   \
        return next(&cache, #name)(l);                                                        \
    }
FORWARD(pthread_rwlock_rdlock)
FORWARD(pthread_rwlock_wrlock)
FORWARD(pthread_rwlock_unlock)
