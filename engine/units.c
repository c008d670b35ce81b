/* engine/units.c - unit names and human formatting of values.
 *
 * Why: alert summaries, console lines and the `value_text`/`threshold_text` wire fields show
 * numbers to people ("23.4%", "15.2s", "$0.0123"), not 0.23400000000000001. This file is the
 * one place that decides the rounding, so every output agrees.
 *
 * Rules (the examples in units.h are the test cases):
 *  - Values are first rounded to 3 significant digits (4 for NONE), and the scale (ms/s/m/h/d,
 *    k/M/B/T) is chosen from the ROUNDED value, so 999.7 ms prints "1s", never "1000ms".
 *  - Trailing zeros after the decimal point are dropped ("2.5m", "2h"), except money, which
 *    keeps at least 2 decimals ("$12.35", "$0.50").
 *  - Plain numbers print in positional notation (never "1.2e+03") unless they are too
 *    large or too small for that to be readable (|x| >= 1e15 or < 1e-9).
 *  - NaN prints "n/a", infinities "inf"/"-inf", whatever the unit.
 *
 * Pure functions, thread-safe, no allocation. They use snprintf, so they belong off the
 * per-event path (they run when an alert is built).
 */
#include "units.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tl_unit_names[TL_UNIT__COUNT] = {
#define TL_X_(E, s) s,
    TL_UNITS(TL_X_)
#undef TL_X_
};

const char *tl_unit_name(tl_unit u)
{
    if ((unsigned)u >= TL_UNIT__COUNT)
        return "unknown";
    return tl_unit_names[u];
}

/* Round x to `sig` significant digits (correctly rounded, via the decimal exponent that
 * printf computes, so powers of ten are never off by one the way floor(log10()) can be). */
static double round_sig(double x, int sig)
{
    char tmp[48];
    if (x == 0 || !isfinite(x))
        return x;
    snprintf(tmp, sizeof tmp, "%.*e", sig - 1, x);
    return strtod(tmp, NULL);
}

/* Decimal exponent of x (x != 0, finite) after rounding to `sig` digits: 12.34 -> 1. */
static int exp10_sig(double x, int sig)
{
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%.*e", sig - 1, x);
    const char *e = strchr(tmp, 'e');
    return e ? atoi(e + 1) : 0;
}

/* Drop trailing zeros after a decimal point, keeping at least `min_dec` decimals. */
static void strip_zeros(char *s, int min_dec)
{
    char *dot = strchr(s, '.');
    if (!dot)
        return;
    char *end = s + strlen(s);
    while (end > dot + 1 + min_dec && end[-1] == '0')
        end--;
    if (end == dot + 1 && min_dec == 0)
        end = dot;
    *end = '\0';
}

/* x with `sig` significant digits in positional notation, at least `min_dec` decimals. */
static void fmt_sig(char *buf, size_t cap, double x, int sig, int min_dec)
{
    if (x == 0) {
        snprintf(buf, cap, "%.*f", min_dec, 0.0);
        return;
    }
    double ax = fabs(x);
    if (ax >= 1e15 || ax < 1e-9) {
        snprintf(buf, cap, "%.*g", sig, x);
        return;
    }
    int e = exp10_sig(x, sig);
    int dec = sig - 1 - e;
    if (dec < min_dec)
        dec = min_dec;
    if (dec < 0)
        dec = 0;
    snprintf(buf, cap, "%.*f", dec, x);
    strip_zeros(buf, min_dec);
    if (strcmp(buf, "-0") == 0) /* a tiny negative rounded away: print "0" */
        memmove(buf, buf + 1, 2);
}

/* Value scaled by the largest step it reaches (after rounding), with that step's suffix. */
typedef struct tl_scale {
    double div;
    const char *suffix;
} tl_scale;

static void fmt_scaled(char *buf, size_t cap, double v, const tl_scale *steps, size_t n_steps,
                       const char *tail)
{
    double r = fabs(round_sig(v, 3));
    size_t i = 0;
    while (i + 1 < n_steps && r >= steps[i + 1].div)
        i++;
    char num[64];
    fmt_sig(num, sizeof num, v / steps[i].div, 3, 0);
    snprintf(buf, cap, "%s%s%s", num, steps[i].suffix, tail);
}

static const tl_scale tl_ms_steps[] = {
    {1.0, "ms"}, {1e3, "s"}, {60e3, "m"}, {3600e3, "h"}, {86400e3, "d"},
};
static const tl_scale tl_count_steps[] = {
    {1.0, ""}, {1e3, "k"}, {1e6, "M"}, {1e9, "B"}, {1e12, "T"},
};

size_t tl_unit_format(double v, tl_unit u, char *buf, size_t cap)
{
    char tmp[128];
    if (isnan(v)) {
        snprintf(tmp, sizeof tmp, "n/a");
    } else if (isinf(v)) {
        snprintf(tmp, sizeof tmp, "%s", v < 0 ? "-inf" : "inf");
    } else {
        switch (u) {
        case TL_UNIT_RATIO: {
            char num[64];
            fmt_sig(num, sizeof num, v * 100.0, 3, 0);
            snprintf(tmp, sizeof tmp, "%s%%", num);
            break;
        }
        case TL_UNIT_MS:
            fmt_scaled(tmp, sizeof tmp, v, tl_ms_steps, sizeof tl_ms_steps / sizeof *tl_ms_steps,
                       "");
            break;
        case TL_UNIT_USD: {
            char num[64];
            double a = fabs(v);
            if (round_sig(a, 3) >= 1.0)
                snprintf(num, sizeof num, "%.2f", a);
            else
                fmt_sig(num, sizeof num, a, 3, 2);
            snprintf(tmp, sizeof tmp, "%s$%s", v < 0 && strspn(num, "0.") != strlen(num) ? "-" : "",
                     num);
            break;
        }
        case TL_UNIT_COUNT:
        case TL_UNIT_TOKENS:
            fmt_scaled(tmp, sizeof tmp, v, tl_count_steps,
                       sizeof tl_count_steps / sizeof *tl_count_steps, "");
            break;
        case TL_UNIT_PER_SEC:
            fmt_scaled(tmp, sizeof tmp, v, tl_count_steps,
                       sizeof tl_count_steps / sizeof *tl_count_steps, "/s");
            break;
        case TL_UNIT_NONE:
        default:
            fmt_sig(tmp, sizeof tmp, v, 4, 0);
            break;
        }
    }
    size_t len = strlen(tmp);
    if (cap == 0)
        return 0;
    if (len >= cap)
        len = cap - 1; /* everything above is ASCII, so any cut is a character boundary */
    memcpy(buf, tmp, len);
    buf[len] = '\0';
    return len;
}
