/* engine/log.c - stderr logging and secret redaction (see log.h).
 *
 * The secret store is fixed storage written under a mutex and published with a release
 * store of the count, so tl_log (any thread, maybe a librdkafka thread) reads it without a
 * lock: an entry is complete before the count that covers it is visible.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "timefmt.h"

#define MAX_SECRETS 64
#define SECRET_BYTES 32768

static _Atomic int min_level = TL_LOG_INFO;

static struct {
    pthread_mutex_t lock; /* writers only */
    char bytes[SECRET_BYTES];
    size_t used;
    const char *s[MAX_SECRETS];
    size_t n[MAX_SECRETS];
    _Atomic size_t count;
} secrets = {.lock = PTHREAD_MUTEX_INITIALIZER};

void tl_log_set_level(tl_log_level lvl) { atomic_store(&min_level, (int)lvl); }

int tl_log_add_secret(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < TL_LOG_SECRET_MIN)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&secrets.lock);
    size_t c = atomic_load_explicit(&secrets.count, memory_order_relaxed);
    for (size_t i = 0; i < c; i++)
        if (secrets.n[i] == n && memcmp(secrets.s[i], s, n) == 0)
            goto out;
    if (c == MAX_SECRETS || SECRET_BYTES - secrets.used < n + 1) {
        rc = -1;
        goto out;
    }
    char *dst = secrets.bytes + secrets.used;
    memcpy(dst, s, n + 1);
    secrets.used += n + 1;
    secrets.s[c] = dst;
    secrets.n[c] = n;
    atomic_store_explicit(&secrets.count, c + 1, memory_order_release);
out:
    pthread_mutex_unlock(&secrets.lock);
    return rc;
}

void tl_log_redact(char *msg, size_t cap)
{
    size_t c = atomic_load_explicit(&secrets.count, memory_order_acquire);
    if (!msg || cap == 0 || c == 0)
        return;
    static const size_t rn = sizeof TL_LOG_REDACTED - 1;
    size_t len = strnlen(msg, cap - 1);
    msg[len] = '\0';
    for (size_t i = 0; i < c; i++) {
        const char *sec = secrets.s[i];
        size_t sn = secrets.n[i];
        char *p = msg;
        while ((p = strstr(p, sec)) != NULL) {
            size_t at = (size_t)(p - msg);
            size_t tail = len - at - sn; /* bytes after the secret */
            size_t room = cap - 1 - at;  /* bytes that fit from `at` on */
            size_t put = rn < room ? rn : room;
            size_t keep = tail < room - put ? tail : room - put;
            memmove(msg + at + put, p + sn, keep);
            memcpy(msg + at, TL_LOG_REDACTED, put);
            len = at + put + keep;
            msg[len] = '\0';
            p = msg + at + put; /* never rescan the replacement */
        }
    }
}

void tl_log(tl_log_level lvl, const char *fmt, ...)
{
    if ((int)lvl < atomic_load(&min_level))
        return;
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char t[32], msg[1024];
    tl_time_format_rfc3339((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, t, sizeof t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tl_log_redact(msg, sizeof msg);
    fprintf(stderr, "%s %-5s %s\n", t, names[lvl], msg);
}
