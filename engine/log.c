/* engine/log.c - stderr logging (see log.h). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "log.h"
#include "timefmt.h"

static _Atomic int min_level = TL_LOG_INFO;

void tl_log_set_level(tl_log_level lvl) { atomic_store(&min_level, (int)lvl); }

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
    fprintf(stderr, "%s %-5s %s\n", t, names[lvl], msg);
}
