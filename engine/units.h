/* engine/units.h - what a rule's value measures, and how to print it for a human.
 *
 * Units come from the aggregate and the field (ratio() is a ratio, p95(latency_ms) is a
 * duration in ms, sum(cost_usd) is dollars). They drive threshold literals in rule files
 * ("10%" only for ratios, "15s" only for durations) and the rounding in alert summaries.
 */
#ifndef TL_UNITS_H
#define TL_UNITS_H

#include <stddef.h>

#define TL_UNITS(X)                                                                            \
    X(NONE, "none")         /* a plain number, e.g. a score */                                 \
    X(COUNT, "count")       /* a number of events */                                           \
    X(RATIO, "ratio")       /* a fraction 0..1, printed as a percentage */                     \
    X(MS, "ms")             /* a duration in milliseconds */                                   \
    X(USD, "usd")           /* money */                                                        \
    X(TOKENS, "tokens")     /* token counts */                                                 \
    X(PER_SEC, "per_second") /* a rate */

typedef enum tl_unit {
#define TL_X_(E, s) TL_UNIT_##E,
    TL_UNITS(TL_X_)
#undef TL_X_
    TL_UNIT__COUNT
} tl_unit;

const char *tl_unit_name(tl_unit u);

/* Human form with sensible rounding, NUL-terminated, returns length:
 *   RATIO 0.1234 -> "12.3%", 0.000123 -> "0.0123%", 0 -> "0%", 1 -> "100%";
 *   MS 850 -> "850ms", 15234 -> "15.2s", 150000 -> "2.5m", 7200000 -> "2h";
 *   USD 0.01234 -> "$0.0123", 12.3456 -> "$12.35";
 *   COUNT/TOKENS 42 -> "42", 12345 -> "12.3k", 2500000 -> "2.5M";
 *   PER_SEC 3.21 -> "3.21/s"; NONE: up to 4 significant digits ("0.8", "1234", "-0.25").
 * NaN prints "n/a". */
size_t tl_unit_format(double v, tl_unit u, char *buf, size_t cap);

#endif
