/* engine/json_decode.c - single-pass JSON trace-event decoder (see json_decode.h).
 *
 * Why: the per-event budget is about 1 us for a 300-byte event. A generic JSON tree
 * (jansson) allocates a node per value and hashes every key; here one forward scan
 * recognises the ~20 known keys by length and first byte, then memcmp, and writes values
 * straight into the tl_event. Nothing is allocated; strings are views into the message
 * unless they contain escapes, in which case they are unescaped into the caller's scratch.
 *
 * Error classification (the code that tl_decode_fail records, with the byte offset where the
 * problem was detected):
 *  - empty:             zero bytes, or only whitespace;
 *  - not_object:        the top-level value is a JSON value other than an object;
 *  - truncated:         the input ends where more JSON was required (this includes an
 *                       unterminated string or a half-written literal);
 *  - json_syntax:       anything that is not JSON (RFC 8259): bad tokens, leading zeros,
 *                       NaN/Infinity, raw control characters in strings, bad escapes, lone
 *                       or mismatched UTF-16 surrogates in \u escapes, trailing bytes after
 *                       the closing brace;
 *  - too_deep:          an object/array nested deeper than TL_JSON_MAX_DEPTH (the top-level
 *                       object is depth 1);
 *  - bad_type:          a known field with a value of the wrong JSON type, a flags element
 *                       that is not a string, or a number outside the double range (or a
 *                       numeric-field literal longer than NUM_MAX_LEN bytes);
 *  - missing_timestamp: no timestamp, or only null ones;
 *  - bad_timestamp:     a timestamp that is not RFC 3339 / epoch ms, negative (before 1970),
 *                       or after year 9999, or of a JSON type other than string/number;
 *  - too_many_flags / too_many_attrs: more than TL_EVENT_MAX_FLAGS / TL_EVENT_MAX_ATTRS;
 *  - scratch_full:      escaped strings need more scratch than the caller gave.
 * Type errors are reported at the value's first byte before the value itself is validated,
 * so `{"service": 12x}` is bad_type, not json_syntax.
 *
 * Invariants: the scanner never reads at or past `end`, never writes past scratch->cap, and
 * never calls strtod on message bytes (the message is not NUL-terminated); unusual numbers
 * are copied into a small stack buffer first. UTF-8 is passed through unvalidated.
 *
 * Threading: re-entrant; a scratch buffer belongs to one thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_decode.h"
#include "timefmt.h"

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Latest epoch ms we accept: 9999-12-31T23:59:59.999Z. */
#define TS_MAX_MS INT64_C(253402300799999)
/* Longest number literal we convert to a double (longer ones are still valid JSON inside
 * ignored values). 400 bytes allow every decimal form a real producer writes. */
#define NUM_MAX_LEN 400

typedef struct jp {
    const char *base; /* start of the message, for offsets */
    const char *end;
    tl_json_scratch *scratch;
    tl_decode_err *err;
} jp;

/* Decoded key kinds. */
enum { K_UNKNOWN, K_TS, K_STR, K_NUM, K_FLAGS, K_ATTRS };

static int fail(jp *j, tl_decode_code code, const char *at, const char *detail)
{
    if (detail)
        return tl_decode_fail(j->err, code, (size_t)(at - j->base), "%s", detail);
    return tl_decode_fail(j->err, code, (size_t)(at - j->base), NULL);
}

/* json_syntax, or truncated when the offending position is the end of the input. */
static int fail_syntax(jp *j, const char *at, const char *what)
{
    if (at >= j->end)
        return fail(j, TL_DECODE_TRUNCATED, j->end, what);
    return fail(j, TL_DECODE_JSON_SYNTAX, at, what);
}

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static inline int is_digit(char c) { return (unsigned)((unsigned char)c - '0') <= 9; }

/* ---------------------------------------------------------------------------------------
 * Strings
 */

/* Reads 4 hex digits at p: 0, or -1 for a non-hex byte, or -2 if the input ends first. */
static int hex4(const char *p, const char *end, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        if (p + i >= end)
            return -2;
        unsigned char c = (unsigned char)p[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (uint32_t)((c | 0x20) - 'a' + 10);
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* Finds the first '"', '\\' or control byte at or after p; returns end if none. Eight bytes
 * at a time: the classic "has zero byte" / "has byte less than n" word tricks. */
static inline const char *scan_plain(const char *p, const char *end)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w);
        if (hit & highs)
            break;
        p += 8;
    }
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20)
            return p;
        p++;
    }
    return p;
}

/* Unescapes the string whose body starts at `p` (just after the opening quote) and whose
 * first escape is at `esc`. Writes into the scratch unless `out` is NULL (validate only).
 * On success *pp is just past the closing quote. */
static int string_slow(jp *j, const char **pp, const char *esc, tl_str *out)
{
    const char *start = *pp, *p = esc, *end = j->end;
    tl_json_scratch *sc = j->scratch;
    char *dst = NULL, *dst_end = NULL, *dst0 = NULL;
    if (out) {
        if (!sc || !sc->buf || sc->used > sc->cap || (size_t)(esc - start) > sc->cap - sc->used)
            return fail(j, TL_DECODE_SCRATCH_FULL, start, NULL);
        dst0 = dst = sc->buf + sc->used;
        dst_end = sc->buf + sc->cap;
        memcpy(dst, start, (size_t)(esc - start));
        dst += esc - start;
    }
    for (;;) {
        const char *q = scan_plain(p, end);
        if (out && q > p) {
            if ((size_t)(q - p) > (size_t)(dst_end - dst))
                return fail(j, TL_DECODE_SCRATCH_FULL, p, NULL);
            memcpy(dst, p, (size_t)(q - p));
            dst += q - p;
        }
        p = q;
        if (p >= end)
            return fail(j, TL_DECODE_TRUNCATED, end, "unterminated string");
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(j, TL_DECODE_JSON_SYNTAX, p, "control character in string");
        /* c == '\\' */
        if (end - p < 2)
            return fail(j, TL_DECODE_TRUNCATED, end, "unterminated string");
        char e = p[1];
        char one;
        uint32_t cp = 0;
        int nbytes = 0;
        switch (e) {
        case '"': one = '"'; break;
        case '\\': one = '\\'; break;
        case '/': one = '/'; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': one = 0; nbytes = -1; break;
        default: return fail(j, TL_DECODE_JSON_SYNTAX, p, "bad escape in string");
        }
        if (nbytes == 0) {
            p += 2;
            if (out) {
                if (dst >= dst_end)
                    return fail(j, TL_DECODE_SCRATCH_FULL, p, NULL);
                *dst++ = one;
            }
            continue;
        }
        /* \uXXXX, possibly a surrogate pair */
        int h = hex4(p + 2, end, &cp);
        if (h == -2)
            return fail(j, TL_DECODE_TRUNCATED, end, "unterminated string");
        if (h < 0)
            return fail(j, TL_DECODE_JSON_SYNTAX, p, "bad \\u escape");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(j, TL_DECODE_JSON_SYNTAX, p, "lone low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if ((end - p > 6 && p[6] != '\\') || (end - p > 7 && p[7] != 'u'))
                return fail(j, TL_DECODE_JSON_SYNTAX, p, "unpaired high surrogate in \\u escape");
            h = end - p < 8 ? -2 : hex4(p + 8, end, &lo);
            if (h == -2)
                return fail(j, TL_DECODE_TRUNCATED, end, "unterminated string");
            if (h < 0 || lo < 0xDC00 || lo > 0xDFFF)
                return fail(j, TL_DECODE_JSON_SYNTAX, p, "unpaired high surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 12;
        } else {
            p += 6;
        }
        if (!out)
            continue;
        nbytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (dst_end - dst < nbytes)
            return fail(j, TL_DECODE_SCRATCH_FULL, p, NULL);
        switch (nbytes) {
        case 1: *dst++ = (char)cp; break;
        case 2:
            *dst++ = (char)(0xC0 | cp >> 6);
            *dst++ = (char)(0x80 | (cp & 0x3F));
            break;
        case 3:
            *dst++ = (char)(0xE0 | cp >> 12);
            *dst++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *dst++ = (char)(0x80 | (cp & 0x3F));
            break;
        default:
            *dst++ = (char)(0xF0 | cp >> 18);
            *dst++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *dst++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *dst++ = (char)(0x80 | (cp & 0x3F));
            break;
        }
    }
    *pp = p + 1;
    if (out) {
        out->p = dst0;
        out->n = (uint32_t)(dst - dst0);
        sc->used = (size_t)(dst - sc->buf);
    }
    return 0;
}

/* Parses a string; *pp points just after the opening quote and ends just after the closing
 * one. `out` NULL: validate only. */
static inline int parse_string(jp *j, const char **pp, tl_str *out)
{
    const char *p = *pp;
    const char *q = scan_plain(p, j->end);
    if (LIKELY(q < j->end && *q == '"')) {
        if (out) {
            out->p = p;
            out->n = (uint32_t)(q - p);
        }
        *pp = q + 1;
        return 0;
    }
    if (q >= j->end)
        return fail(j, TL_DECODE_TRUNCATED, j->end, "unterminated string");
    if ((unsigned char)*q < 0x20)
        return fail(j, TL_DECODE_JSON_SYNTAX, q, "control character in string");
    return string_slow(j, pp, q, out);
}

/* ---------------------------------------------------------------------------------------
 * Numbers
 */

typedef struct num_scan {
    const char *start, *end; /* the literal */
    const char *int_end;     /* end of the integer digits */
    uint64_t mant;           /* first significant digits (at most 19) */
    int exp10;               /* value = mant * 10^exp10 when !inexact */
    int neg, has_frac, has_exp, inexact;
} num_scan;

/* Scans a JSON number at *pp (which points at '-' or a digit). */
static int scan_number(jp *j, const char **pp, num_scan *ns)
{
    const char *p = *pp, *end = j->end;
    int nd = 0; /* significant digits kept in mant */
    int exp10 = 0, inexact = 0;
    uint64_t m = 0;
    ns->start = p;
    ns->neg = 0;
    ns->has_frac = ns->has_exp = 0;
    if (*p == '-') {
        ns->neg = 1;
        p++;
    }
    if (p >= end)
        return fail(j, TL_DECODE_TRUNCATED, end, "incomplete number");
    if (*p == '0') {
        p++;
    } else if (is_digit(*p)) {
        while (p < end && is_digit(*p)) {
            if (nd < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                nd++;
            } else {
                exp10++;
                inexact |= *p != '0';
            }
            p++;
        }
    } else {
        return fail(j, TL_DECODE_JSON_SYNTAX, p, "bad number");
    }
    ns->int_end = p;
    if (p < end && *p == '.') {
        p++;
        ns->has_frac = 1;
        if (p >= end)
            return fail(j, TL_DECODE_TRUNCATED, end, "incomplete number");
        if (!is_digit(*p))
            return fail(j, TL_DECODE_JSON_SYNTAX, p, "bad number");
        while (p < end && is_digit(*p)) {
            if (nd < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                exp10--;
                if (m)
                    nd++;
            } else {
                inexact |= *p != '0';
            }
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        ns->has_exp = 1;
        int eneg = 0, e = 0;
        if (p < end && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p >= end)
            return fail(j, TL_DECODE_TRUNCATED, end, "incomplete number");
        if (!is_digit(*p))
            return fail(j, TL_DECODE_JSON_SYNTAX, p, "bad number");
        while (p < end && is_digit(*p)) {
            if (e < 100000)
                e = e * 10 + (*p - '0');
            p++;
        }
        exp10 += eneg ? -e : e;
    }
    ns->end = p;
    ns->mant = m;
    ns->exp10 = exp10;
    ns->inexact = inexact;
    *pp = p;
    return 0;
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The double nearest to the scanned literal. Exact fast path when the mantissa and the power
 * of ten are both exactly representable (one correctly rounded operation); otherwise strtod
 * on a NUL-terminated stack copy. Returns -1 if too long or out of range. */
static int number_value(const num_scan *ns, double *out)
{
    if (LIKELY(!ns->inexact && ns->mant <= (UINT64_C(1) << 53) &&
               ((ns->exp10 >= -22 && ns->exp10 <= 22) || ns->mant == 0))) {
        if (ns->mant == 0) {
            *out = ns->neg ? -0.0 : 0.0;
            return 0;
        }
        double v = (double)ns->mant;
        v = ns->exp10 < 0 ? v / pow10_exact[-ns->exp10] : v * pow10_exact[ns->exp10];
        *out = ns->neg ? -v : v;
        return 0;
    }
    size_t n = (size_t)(ns->end - ns->start);
    char buf[NUM_MAX_LEN + 1];
    if (n > NUM_MAX_LEN)
        return -1;
    memcpy(buf, ns->start, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Generic values (skipped or kept as raw text)
 */

static int skip_value(jp *j, const char **pp, int depth);

static int expect_literal(jp *j, const char **pp, const char *lit, size_t n)
{
    const char *p = *pp;
    size_t avail = (size_t)(j->end - p);
    if (avail >= n && memcmp(p, lit, n) == 0) {
        *pp = p + n;
        return 0;
    }
    if (avail < n && memcmp(p, lit, avail) == 0)
        return fail(j, TL_DECODE_TRUNCATED, j->end, "incomplete literal");
    return fail(j, TL_DECODE_JSON_SYNTAX, p, "bad literal");
}

/* Validates one value at *pp (no leading whitespace) whose container is at `depth`. */
static int skip_value(jp *j, const char **pp, int depth)
{
    const char *p = *pp, *end = j->end;
    if (p >= end)
        return fail(j, TL_DECODE_TRUNCATED, end, "expected a value");
    switch (*p) {
    case '"':
        p++;
        if (parse_string(j, &p, NULL) < 0)
            return -1;
        break;
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        int is_obj = *p == '{';
        if (depth + 1 > TL_JSON_MAX_DEPTH)
            return fail(j, TL_DECODE_TOO_DEEP, p, NULL);
        p = skip_ws(p + 1, end);
        if (p < end && *p == close) {
            p++;
            break;
        }
        for (;;) {
            if (is_obj) {
                if (p >= end || *p != '"')
                    return fail_syntax(j, p, "expected a key");
                p++;
                if (parse_string(j, &p, NULL) < 0)
                    return -1;
                p = skip_ws(p, end);
                if (p >= end || *p != ':')
                    return fail_syntax(j, p, "expected ':'");
                p = skip_ws(p + 1, end);
            }
            if (skip_value(j, &p, depth + 1) < 0)
                return -1;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == close) {
                p++;
                break;
            }
            return fail_syntax(j, p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        break;
    }
    case 't':
        if (expect_literal(j, &p, "true", 4) < 0)
            return -1;
        break;
    case 'f':
        if (expect_literal(j, &p, "false", 5) < 0)
            return -1;
        break;
    case 'n':
        if (expect_literal(j, &p, "null", 4) < 0)
            return -1;
        break;
    default:
        if (*p == '-' || is_digit(*p)) {
            num_scan ns;
            if (scan_number(j, &p, &ns) < 0)
                return -1;
            break;
        }
        return fail(j, TL_DECODE_JSON_SYNTAX, p, "expected a value");
    }
    *pp = p;
    return 0;
}

/* Whether c can start a JSON value (used to tell bad_type from json_syntax). */
static inline int starts_value(char c)
{
    return c == '"' || c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n' || c == '-' ||
           is_digit(c);
}

/* ---------------------------------------------------------------------------------------
 * Known keys
 */

static inline int key_lookup(const char *k, uint32_t n, int *idx)
{
#define KEY(lit, kind, i)                                                                      \
    if (memcmp(k, lit, sizeof(lit) - 1) == 0) {                                                \
        *idx = i;                                                                              \
        return kind;                                                                           \
    }
    switch (n) {
    case 4:
        if (k[0] == 'k') { KEY("kind", K_STR, TL_S_KIND) }
        else if (k[0] == 't') { KEY("tool", K_STR, TL_S_TOOL) }
        break;
    case 5:
        if (k[0] == 'm') { KEY("model", K_STR, TL_S_MODEL) }
        else if (k[0] == 's') { KEY("score", K_NUM, TL_N_SCORE) }
        else if (k[0] == 'f') { KEY("flags", K_FLAGS, 0) }
        break;
    case 6:
        KEY("status", K_STR, TL_S_STATUS)
        break;
    case 7:
        if (k[1] == 'p') { KEY("span_id", K_STR, TL_S_SPAN_ID) }
        else { KEY("service", K_STR, TL_S_SERVICE) }
        break;
    case 8:
        if (k[0] == 't') { KEY("trace_id", K_STR, TL_S_TRACE_ID) }
        else if (k[0] == 'p') { KEY("provider", K_STR, TL_S_PROVIDER) }
        else if (k[0] == 'c') { KEY("cost_usd", K_NUM, TL_N_COST_USD) }
        break;
    case 9:
        KEY("timestamp", K_TS, 0)
        break;
    case 10:
        if (k[0] == 'e') { KEY("error_type", K_STR, TL_S_ERROR_TYPE) }
        else if (k[0] == 'l') { KEY("latency_ms", K_NUM, TL_N_LATENCY_MS) }
        else if (k[0] == 'a') { KEY("attributes", K_ATTRS, 0) }
        break;
    case 12:
        KEY("input_tokens", K_NUM, TL_N_INPUT_TOKENS)
        break;
    case 13:
        if (k[0] == 'm') { KEY("model_version", K_STR, TL_S_MODEL_VERSION) }
        else if (k[0] == 'o') { KEY("output_tokens", K_NUM, TL_N_OUTPUT_TOKENS) }
        break;
    case 14:
        if (k[0] == 'p' && k[1] == 'a') { KEY("parent_span_id", K_STR, TL_S_PARENT_SPAN_ID) }
        else { KEY("prompt_version", K_STR, TL_S_PROMPT_VERSION) }
        break;
    default:
        break;
    }
#undef KEY
    return K_UNKNOWN;
}

/* "field 'x': ..." detail for a known key. */
static int fail_field(jp *j, tl_decode_code code, const char *at, tl_str key, const char *what)
{
    return tl_decode_fail(j->err, code, (size_t)(at - j->base), "field '%.*s': %s",
                          (int)(key.n > 40 ? 40 : key.n), key.p, what);
}

/* A typed value could not be read: wrong type (bad_type), or not a value at all. */
static int fail_type(jp *j, const char *p, tl_str key, const char *what)
{
    if (p >= j->end)
        return fail(j, TL_DECODE_TRUNCATED, j->end, "expected a value");
    if (!starts_value(*p))
        return fail(j, TL_DECODE_JSON_SYNTAX, p, "expected a value");
    return fail_field(j, TL_DECODE_BAD_TYPE, p, key, what);
}

static int parse_timestamp(jp *j, const char **pp, tl_str key, int64_t *ts)
{
    const char *p = *pp, *at = p;
    if (*p == '"') {
        tl_str s;
        p++;
        if (parse_string(j, &p, &s) < 0)
            return -1;
        if (tl_time_parse_rfc3339(s.p, s.n, ts) < 0)
            return fail_field(j, TL_DECODE_BAD_TIMESTAMP, at, key, "not an RFC 3339 timestamp");
    } else {
        num_scan ns;
        if (scan_number(j, &p, &ns) < 0)
            return -1;
        if (ns.neg)
            return fail_field(j, TL_DECODE_BAD_TIMESTAMP, at, key, "negative epoch milliseconds");
        if (!ns.has_exp) {
            /* Integer part only; a fraction of a millisecond is truncated. */
            int64_t v = 0;
            for (const char *d = ns.start; d < ns.int_end; d++) {
                v = v * 10 + (*d - '0');
                if (v > TS_MAX_MS)
                    return fail_field(j, TL_DECODE_BAD_TIMESTAMP, at, key, "after year 9999");
            }
            *ts = v;
        } else {
            double v;
            if (number_value(&ns, &v) < 0 || v > (double)TS_MAX_MS)
                return fail_field(j, TL_DECODE_BAD_TIMESTAMP, at, key, "after year 9999");
            *ts = (int64_t)v; /* v >= 0: truncation */
        }
    }
    if (*ts < 0 || *ts > TS_MAX_MS)
        return fail_field(j, TL_DECODE_BAD_TIMESTAMP, at, key, "outside 1970..9999");
    *pp = p;
    return 0;
}

static int parse_flags(jp *j, const char **pp, tl_event *ev, int depth)
{
    const char *p = *pp, *end = j->end;
    if (depth + 1 > TL_JSON_MAX_DEPTH)
        return fail(j, TL_DECODE_TOO_DEEP, p, NULL);
    ev->n_flags = 0;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') {
        *pp = p + 1;
        return 0;
    }
    for (;;) {
        if (p >= end || *p != '"') {
            if (p < end && *p != ']' && starts_value(*p))
                return fail(j, TL_DECODE_BAD_TYPE, p, "field 'flags': expected an array of strings");
            return fail_syntax(j, p, "expected a string");
        }
        if (ev->n_flags >= TL_EVENT_MAX_FLAGS)
            return fail(j, TL_DECODE_TOO_MANY_FLAGS, p, NULL);
        p++;
        if (parse_string(j, &p, &ev->flags[ev->n_flags]) < 0)
            return -1;
        ev->n_flags++;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == ']')
            break;
        return fail_syntax(j, p, "expected ',' or ']'");
    }
    *pp = p + 1;
    return 0;
}

static int parse_attrs(jp *j, const char **pp, tl_event *ev, int depth)
{
    const char *p = *pp, *end = j->end;
    if (depth + 1 > TL_JSON_MAX_DEPTH)
        return fail(j, TL_DECODE_TOO_DEEP, p, NULL);
    ev->n_attrs = 0;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        *pp = p + 1;
        return 0;
    }
    for (;;) {
        if (p >= end || *p != '"')
            return fail_syntax(j, p, "expected a key");
        if (ev->n_attrs >= TL_EVENT_MAX_ATTRS)
            return fail(j, TL_DECODE_TOO_MANY_ATTRS, p, NULL);
        uint32_t i = ev->n_attrs;
        p++;
        if (parse_string(j, &p, &ev->attr_key[i]) < 0)
            return -1;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return fail_syntax(j, p, "expected ':'");
        p = skip_ws(p + 1, end);
        if (p < end && *p == '"') {
            p++;
            if (parse_string(j, &p, &ev->attr_val[i]) < 0)
                return -1;
        } else {
            /* Numbers, literals and nested values: their validated raw text. */
            const char *v0 = p;
            if (skip_value(j, &p, depth + 1) < 0)
                return -1;
            ev->attr_val[i] = tl_str_make(v0, (size_t)(p - v0));
        }
        ev->n_attrs++;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}')
            break;
        return fail_syntax(j, p, "expected ',' or '}'");
    }
    *pp = p + 1;
    return 0;
}

/* Reads a key whose opening quote is at *pp. Escaped keys (rare) are unescaped into the
 * caller's small stack buffer so that "\u0074imestamp" still matches a known key; such a view
 * is only used for the lookup and error details. An escaped key too long for the buffer
 * cannot be a known key and comes back empty (which matches nothing). */
static inline int parse_key(jp *j, const char **pp, tl_str *key, char *kbuf, size_t kcap)
{
    const char *p0 = *pp + 1, *p = p0;
    const char *q = scan_plain(p, j->end);
    if (LIKELY(q < j->end && *q == '"')) {
        key->p = p;
        key->n = (uint32_t)(q - p);
        *pp = q + 1;
        return 0;
    }
    if (parse_string(j, &p, NULL) < 0) /* validate, find the end */
        return -1;
    *key = tl_str_make(kbuf, 0);
    if ((size_t)(p - 1 - p0) <= kcap) { /* unescaped length <= escaped length */
        tl_json_scratch *saved = j->scratch;
        tl_json_scratch tmp = {kbuf, kcap, 0};
        const char *r = p0;
        j->scratch = &tmp;
        int rc = parse_string(j, &r, key); /* cannot fail: validated above and fits */
        j->scratch = saved;
        if (rc < 0)
            return -1;
    }
    *pp = p;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Top level
 */

int tl_json_decode(const char *msg, size_t len, tl_event *ev, tl_json_scratch *scratch,
                   tl_decode_err *err)
{
    jp j = {msg, msg + len, scratch, err};
    const char *p, *end = j.end;
    int has_ts = 0;
    char kbuf[32];

    if (scratch)
        scratch->used = 0;
    tl_event_reset(ev);
    if (!msg || len == 0)
        return tl_decode_fail(err, TL_DECODE_EMPTY, 0, NULL);
    if (len > UINT32_MAX)
        return tl_decode_fail(err, TL_DECODE_TOO_LARGE, 0, NULL);

    p = skip_ws(msg, end);
    if (p >= end)
        return tl_decode_fail(err, TL_DECODE_EMPTY, len, NULL);
    if (*p != '{') {
        if (starts_value(*p))
            return fail(&j, TL_DECODE_NOT_OBJECT, p, NULL);
        return fail(&j, TL_DECODE_JSON_SYNTAX, p, "expected '{'");
    }
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        goto closed;

    for (;;) {
        tl_str key;
        int idx = 0;
        if (UNLIKELY(p >= end || *p != '"'))
            return fail_syntax(&j, p, "expected a key");
        if (parse_key(&j, &p, &key, kbuf, sizeof kbuf) < 0)
            return -1;
        p = skip_ws(p, end);
        if (UNLIKELY(p >= end || *p != ':'))
            return fail_syntax(&j, p, "expected ':'");
        p = skip_ws(p + 1, end);
        if (UNLIKELY(p >= end))
            return fail(&j, TL_DECODE_TRUNCATED, end, "expected a value");

        int kind = key.n <= 14 ? key_lookup(key.p, key.n, &idx) : K_UNKNOWN;
        char c = *p;
        switch (kind) {
        case K_STR:
            if (LIKELY(c == '"')) {
                p++;
                if (parse_string(&j, &p, &ev->str[idx]) < 0)
                    return -1;
                ev->str_present |= 1u << idx;
            } else if (c == 'n') {
                if (expect_literal(&j, &p, "null", 4) < 0)
                    return -1;
                ev->str_present &= ~(1u << idx);
            } else {
                return fail_type(&j, p, key, "expected a string");
            }
            break;
        case K_NUM:
            if (LIKELY(c == '-' || is_digit(c))) {
                num_scan ns;
                const char *at = p;
                if (scan_number(&j, &p, &ns) < 0)
                    return -1;
                if (number_value(&ns, &ev->num[idx]) < 0)
                    return fail_field(&j, TL_DECODE_BAD_TYPE, at, key, "number out of range");
                ev->num_present |= 1u << idx;
            } else if (c == 'n') {
                if (expect_literal(&j, &p, "null", 4) < 0)
                    return -1;
                ev->num_present &= ~(1u << idx);
            } else {
                return fail_type(&j, p, key, "expected a number");
            }
            break;
        case K_TS:
            if (LIKELY(c == '"' || c == '-' || is_digit(c))) {
                if (parse_timestamp(&j, &p, key, &ev->ts_ms) < 0)
                    return -1;
                has_ts = 1;
            } else if (c == 'n') {
                if (expect_literal(&j, &p, "null", 4) < 0)
                    return -1;
                has_ts = 0;
            } else {
                if (!starts_value(c))
                    return fail(&j, TL_DECODE_JSON_SYNTAX, p, "expected a value");
                return fail_field(&j, TL_DECODE_BAD_TIMESTAMP, p, key,
                                  "expected an RFC 3339 string or epoch milliseconds");
            }
            break;
        case K_FLAGS:
            if (c == '[') {
                if (parse_flags(&j, &p, ev, 1) < 0)
                    return -1;
            } else if (c == 'n') {
                if (expect_literal(&j, &p, "null", 4) < 0)
                    return -1;
                ev->n_flags = 0;
            } else {
                return fail_type(&j, p, key, "expected an array of strings");
            }
            break;
        case K_ATTRS:
            if (c == '{') {
                if (parse_attrs(&j, &p, ev, 1) < 0)
                    return -1;
            } else if (c == 'n') {
                if (expect_literal(&j, &p, "null", 4) < 0)
                    return -1;
                ev->n_attrs = 0;
            } else {
                return fail_type(&j, p, key, "expected an object");
            }
            break;
        default:
            if (skip_value(&j, &p, 1) < 0)
                return -1;
            break;
        }

        p = skip_ws(p, end);
        if (LIKELY(p < end && *p == ',')) {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (LIKELY(p < end && *p == '}'))
            break;
        return fail_syntax(&j, p, "expected ',' or '}'");
    }
closed:
    if (!has_ts)
        return fail(&j, TL_DECODE_MISSING_TIMESTAMP, p, NULL);
    p = skip_ws(p + 1, end);
    if (p != end)
        return fail(&j, TL_DECODE_JSON_SYNTAX, p, "trailing bytes after the object");
    return 0;
}
