/* engine/timefmt.c - RFC 3339 timestamps and Prometheus-style durations (see timefmt.h).
 *
 * Why hand-written: the JSON decoder parses a timestamp string for every event, and the libc
 * route (strptime + timegm) takes the locale and TZ locks and is slow. Here calendar
 * arithmetic is done directly on the proleptic Gregorian calendar, counting days from
 * 0000-01-01, which covers exactly the years RFC 3339 allows (0000-9999).
 *
 * Invariants:
 *  - tl_time_parse_rfc3339 consumes exactly `n` bytes or fails; it never reads past s[n-1].
 *  - tl_time_format_rfc3339 always writes 24 characters; epoch values outside year
 *    0000..9999 are clamped to the first/last representable millisecond, so the output stays
 *    parseable and fixed-width.
 *  - Durations: units y (365d), w, d, h, m, s, ms, each at most once and in decreasing order
 *    ("1h30m", not "30m1h"), as in Prometheus. The bare string "0" is also accepted.
 *
 * Threading: pure functions, no state.
 */
#include <stdint.h>
#include <string.h>

#include "timefmt.h"

#define MS_PER_DAY INT64_C(86400000)
#define DAYS_0000_TO_1970 INT64_C(719528) /* days from 0000-01-01 to 1970-01-01 */

/* Days before each month in a common year. */
static const uint16_t days_before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m)
{
    static const uint8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days from 0000-01-01 to January 1st of year y (y >= 0). Year 0 is a leap year, so the
 * leap years in [0, y) are the multiples of 4, less those of 100, plus those of 400. */
static int64_t days_before_year(int64_t y)
{
    return 365 * y + (y + 3) / 4 - (y + 99) / 100 + (y + 399) / 400;
}

/* Days since 1970-01-01 for a valid civil date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t days = days_before_year(y) + days_before_month[m - 1] + (d - 1);
    if (m > 2 && is_leap(y))
        days++;
    return days - DAYS_0000_TO_1970;
}

/* Parse exactly `k` decimal digits at s; -1 if any is not a digit. */
static int digits(const char *s, int k)
{
    int v = 0;
    for (int i = 0; i < k; i++) {
        unsigned c = (unsigned char)s[i] - '0';
        if (c > 9)
            return -1;
        v = v * 10 + (int)c;
    }
    return v;
}

int tl_time_parse_rfc3339(const char *s, size_t n, int64_t *out_ms)
{
    /* Shortest form: "YYYY-MM-DDTHH:MM:SSZ" (20 bytes). */
    if (!s || n < 20)
        return -1;
    int year = digits(s, 4), mon = digits(s + 5, 2), day = digits(s + 8, 2);
    int hour = digits(s + 11, 2), min = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (year < 0 || mon < 0 || day < 0 || hour < 0 || min < 0 || sec < 0)
        return -1;
    if (s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
        return -1;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 ||
        min > 59 || sec > 60)
        return -1;

    size_t i = 19;
    int64_t frac_ms = 0;
    if (s[i] == '.') {
        i++;
        size_t start = i;
        while (i < n && (unsigned)((unsigned char)s[i] - '0') <= 9) {
            if (i - start < 3)
                frac_ms = frac_ms * 10 + (s[i] - '0');
            i++;
        }
        size_t nd = i - start;
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            frac_ms *= 10;
    }
    if (i >= n)
        return -1;

    int64_t offset_min = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (n - i < 6 || s[i + 3] != ':')
            return -1;
        int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        if (oh < 0 || om < 0 || oh > 23 || om > 59)
            return -1;
        offset_min = oh * 60 + om;
        if (s[i] == '-')
            offset_min = -offset_min;
        i += 6;
    } else {
        return -1;
    }
    if (i != n)
        return -1;

    int64_t days = days_from_civil(year, mon, day);
    int64_t secs = days * 86400 + hour * 3600 + min * 60 + sec - offset_min * 60;
    *out_ms = secs * 1000 + frac_ms;
    return 0;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

size_t tl_time_format_rfc3339(int64_t ms, char *buf, size_t cap)
{
    /* Clamp to 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z. */
    const int64_t min_ms = -DAYS_0000_TO_1970 * MS_PER_DAY;
    const int64_t max_ms = (days_before_year(10000) - DAYS_0000_TO_1970) * MS_PER_DAY - 1;
    if (!buf || cap < 25) {
        if (buf && cap)
            buf[0] = '\0';
        return 0;
    }
    if (ms < min_ms)
        ms = min_ms;
    if (ms > max_ms)
        ms = max_ms;

    int64_t rel = ms - min_ms; /* >= 0: ms since 0000-01-01 */
    int64_t days = rel / MS_PER_DAY;
    int64_t in_day = rel % MS_PER_DAY;

    /* Estimate the year from the mean Gregorian year, then correct by at most a step. */
    int64_t y = days * 400 / 146097;
    while (y < 9999 && days_before_year(y + 1) <= days)
        y++;
    while (y > 0 && days_before_year(y) > days)
        y--;
    int doy = (int)(days - days_before_year(y));
    int leap = is_leap(y);
    int m = 12;
    while (m > 1 && doy < days_before_month[m - 1] + (m > 2 && leap ? 1 : 0))
        m--;
    int d = doy - days_before_month[m - 1] - (m > 2 && leap ? 1 : 0) + 1;

    int hh = (int)(in_day / 3600000), mm = (int)(in_day / 60000 % 60);
    int ss = (int)(in_day / 1000 % 60), mss = (int)(in_day % 1000);

    put2(buf, (int)(y / 100));
    put2(buf + 2, (int)(y % 100));
    buf[4] = '-';
    put2(buf + 5, m);
    buf[7] = '-';
    put2(buf + 8, d);
    buf[10] = 'T';
    put2(buf + 11, hh);
    buf[13] = ':';
    put2(buf + 14, mm);
    buf[16] = ':';
    put2(buf + 17, ss);
    buf[19] = '.';
    buf[20] = (char)('0' + mss / 100);
    put2(buf + 21, mss % 100);
    buf[23] = 'Z';
    buf[24] = '\0';
    return 24;
}

/* Duration units, largest first; the parse enforces this order. */
static const struct {
    const char *name;
    int64_t ms;
} units[] = {
    {"y", INT64_C(31536000000)}, {"w", INT64_C(604800000)}, {"d", INT64_C(86400000)},
    {"h", INT64_C(3600000)},     {"m", INT64_C(60000)},     {"s", INT64_C(1000)},
    {"ms", INT64_C(1)},
};
#define N_UNITS (sizeof units / sizeof units[0])

int tl_duration_parse(const char *s, size_t n, int64_t *out_ms, size_t *err_col)
{
    size_t i = 0;
    int64_t total = 0;
    size_t next_unit = 0; /* units before this index were used or skipped */
    if (!s || n == 0)
        goto fail;
    if (n == 1 && s[0] == '0') {
        *out_ms = 0;
        return 0;
    }
    while (i < n) {
        size_t num_start = i;
        int64_t v = 0;
        while (i < n && (unsigned)((unsigned char)s[i] - '0') <= 9) {
            if (v > (INT64_MAX - 9) / 10) {
                i = num_start;
                goto fail;
            }
            v = v * 10 + (s[i] - '0');
            i++;
        }
        if (i == num_start || i == n)
            goto fail; /* no digits here, or digits without a unit */
        size_t u;
        if (s[i] == 'm' && i + 1 < n && s[i + 1] == 's')
            u = N_UNITS - 1;
        else {
            for (u = 0; u < N_UNITS - 1; u++)
                if (s[i] == units[u].name[0])
                    break;
            if (u == N_UNITS - 1)
                goto fail; /* not a unit letter */
        }
        if (u < next_unit)
            goto fail; /* repeated or out of order */
        if (v > (INT64_MAX - total) / units[u].ms) {
            i = num_start;
            goto fail;
        }
        total += v * units[u].ms;
        next_unit = u + 1;
        i += strlen(units[u].name);
    }
    *out_ms = total;
    return 0;
fail:
    if (err_col)
        *err_col = i;
    return -1;
}

size_t tl_duration_format(int64_t ms, char *buf, size_t cap)
{
    char tmp[64];
    size_t len = 0;
    uint64_t rest;
    if (ms < 0) {
        tmp[len++] = '-';
        rest = (uint64_t)0 - (uint64_t)ms;
    } else {
        rest = (uint64_t)ms;
    }
    if (rest == 0) {
        tmp[len++] = '0';
        tmp[len++] = 's';
    }
    for (size_t u = 0; u < N_UNITS && rest; u++) {
        uint64_t q = rest / (uint64_t)units[u].ms;
        if (!q)
            continue;
        rest -= q * (uint64_t)units[u].ms;
        char digs[24];
        int nd = 0;
        do {
            digs[nd++] = (char)('0' + q % 10);
            q /= 10;
        } while (q);
        while (nd)
            tmp[len++] = digs[--nd];
        for (const char *p = units[u].name; *p; p++)
            tmp[len++] = *p;
    }
    if (!buf || cap == 0)
        return 0;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, tmp, len);
    buf[len] = '\0';
    return len;
}
