/* engine/alert_line.c - one human-readable console line per alert.
 *
 * Why: `tripline --output console` and the dry-run mode print alerts for a person watching a
 * terminal, where one aligned line per transition beats a JSON blob:
 *
 *   FIRING   critical  ToolErrorRate  service=support-bot tool=get_order_status  value=23.4% > 10% (10m)  -- summary
 *
 * Layout: state padded to 8 columns, severity padded to 8, then two spaces between sections:
 * rule name, labels as key=value (section omitted when there are none), value, the threshold
 * text and the window, "[resend n]" for the n-th re-send of a resolved notification, then
 * "-- summary" when there is one. No trailing newline.
 *
 * Safety: label values and summaries come from events and could carry terminal escape
 * sequences or newlines; every string is copied with control characters removed: C0 bytes
 * (< 0x20), DEL (0x7f) and the C1 controls U+0080..U+009F (U+009B is CSI, as ESC [ is), and
 * each byte that is not well-formed UTF-8 is shown as '?'. One alert is therefore always
 * exactly one line of valid UTF-8 and cannot drive the terminal.
 *
 * Contract: always NUL-terminated when cap > 0; a line longer than cap - 1 bytes is cut at a
 * UTF-8 character boundary. Returns the length written. Pure, thread-safe, no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "alert.h"
#include "timefmt.h"
#include "utf8.h"
#include "units.h"

typedef struct tl_lw {
    char *buf;
    size_t len;
    size_t lim; /* cap - 1 */
    int full;
} tl_lw;

static int is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

/* Append s[0..n) minus control characters, whole characters only (a character that does
 * not fit ends the line); a byte that is not well-formed UTF-8 becomes '?'. */
static void lw_put(tl_lw *w, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && !w->full;) {
        size_t k = tl_utf8_len(u + i, n - i);
        if (k == 1 && is_ctl(u[i])) {
            i++;
            continue;
        }
        if (k == 2 && u[i] == 0xC2 && u[i + 1] < 0xA0) { /* C1 control */
            i += 2;
            continue;
        }
        const unsigned char *put = k ? u + i : (const unsigned char *)"?";
        size_t pn = k ? k : 1;
        if (w->lim - w->len < pn) {
            w->full = 1;
            return;
        }
        memcpy(w->buf + w->len, put, pn);
        w->len += pn;
        i += k ? k : 1;
    }
}

static void lw_str(tl_lw *w, const char *s)
{
    if (s)
        lw_put(w, s, strlen(s));
}

static void lw_pad(tl_lw *w, const char *s, size_t width)
{
    size_t before = w->len;
    lw_str(w, s);
    for (size_t k = w->len - before; k < width; k++)
        lw_put(w, " ", 1);
}

size_t tl_alert_format_line(const tl_alert *a, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    tl_lw w = {out, 0, cap - 1, 0};
    char tmp[96];

    lw_pad(&w, a->state == TL_ALERT_RESOLVED ? "RESOLVED" : "FIRING", 8);
    lw_put(&w, " ", 1);
    lw_pad(&w, a->severity, 8);
    lw_put(&w, "  ", 2);
    lw_str(&w, a->alert);

    uint32_t nl = a->n_labels < TL_ALERT_MAX_LABELS ? a->n_labels : TL_ALERT_MAX_LABELS;
    const char *sep = "  ";
    for (uint32_t i = 0; i < nl; i++) {
        if (!a->label_key[i])
            continue;
        lw_str(&w, sep);
        sep = " ";
        lw_str(&w, a->label_key[i]);
        lw_put(&w, "=", 1);
        lw_str(&w, a->label_val[i]);
    }

    lw_put(&w, "  value=", 8);
    tl_unit_format(a->value, a->unit, tmp, sizeof tmp);
    lw_str(&w, tmp);
    lw_put(&w, " ", 1);
    tl_alert_threshold_text(a, tmp, sizeof tmp);
    lw_str(&w, tmp);
    lw_put(&w, " (", 2);
    tl_duration_format(a->window_ms, tmp, sizeof tmp);
    lw_str(&w, tmp);
    lw_put(&w, ")", 1);
    if (a->resend) { /* a repeat of a notification already sent (same transition_id) */
        snprintf(tmp, sizeof tmp, "  [resend %u]", a->resend);
        lw_str(&w, tmp);
    }

    if (a->summary && a->summary[0]) {
        lw_put(&w, "  -- ", 5);
        lw_str(&w, a->summary);
    }
    out[w.len] = '\0';
    return w.len;
}

size_t tl_alert_threshold_text(const tl_alert *a, char *buf, size_t cap)
{
    if (!cap)
        return 0;
    size_t n = 0;
    if (a->op && a->op[0])
        n = (size_t)snprintf(buf, cap, "%.8s ", a->op);
    if (n >= cap)
        return cap - 1;
    return n + tl_unit_format(a->threshold, a->unit, buf + n, cap - n);
}
