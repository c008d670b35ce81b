/* engine/selfalert.c - alerts about tripline itself (see selfalert.h).
 *
 * Each alert is one `episode` state machine: inactive -> firing (starts_at fixed, seq 0) ->
 * re-notified while firing (seq 1, 2, ...) -> resolved (ends_at fixed; its notification
 * re-sent with the same transition id while due) -> inactive, until it fires again. A check
 * decides one step per alert, so one check sends at most one notification of each.
 *
 * Invariants: `next_check` is the monotonic time the next check is due (INT64_MIN before the
 * first); for the kinds that fire on a counter's growth, an episode's `prev` is the counter at
 * the previous check and `last_growth` the monotonic time of the last check that saw it grow;
 * `healthy_failures` is checkpoint_failures
 * at the last check that saw checkpoints healthy. An episode's `resolved` is the monotonic time
 * of its resolution while a re-send may still be due, INT64_MIN otherwise.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "ckio.h"
#include "log.h"
#include "selfalert.h"
#include "timefmt.h"

/* ---- shared pieces ------------------------------------------------------------------------- */

void tl_self_ident_init(tl_self_ident *id, const char *name, const char *group)
{
    memset(id, 0, sizeof *id);
    id->name = name;
    snprintf(id->instance, sizeof id->instance, "%s", group ? group : "");
    if (gethostname(id->host, sizeof id->host) != 0)
        snprintf(id->host, sizeof id->host, "unknown");
    id->host[sizeof id->host - 1] = '\0';
    const char *vals[1] = {id->instance};
    tl_alert a;
    memset(&a, 0, sizeof a);
    id->fp = tl_alert_set_fingerprint_of(&a, name, vals, 1);
    memcpy(id->fingerprint, a.fingerprint, sizeof id->fingerprint);
}

void tl_self_alert_init(tl_alert *a, const tl_self_ident *id, tl_alert_state state, int64_t timestamp_ms,
                        int64_t starts_at_ms, int64_t ends_at_ms, uint32_t seq)
{
    memset(a, 0, sizeof *a);
    a->alert = id->name;
    a->state = state;
    a->timestamp_ms = timestamp_ms;
    a->starts_at_ms = starts_at_ms;
    a->ends_at_ms = state == TL_ALERT_RESOLVED ? ends_at_ms : -1;
    a->unit = TL_UNIT_COUNT;
    a->op = ">";
    a->owner = "tripline";
    a->n_labels = 1;
    a->label_key[0] = "instance";
    a->label_val[0] = id->instance;
    memcpy(a->fingerprint, id->fingerprint, sizeof a->fingerprint);
    tl_alert_set_transition_id(a, id->fp, starts_at_ms, seq);
}

int64_t tl_self_clock_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the alerts ---------------------------------------------------------------------------- */

typedef struct episode {
    tl_self_ident id;
    const char *severity, *metric, *runbook;
    int firing;
    int64_t starts_ms, ends_ms; /* wall clock: starts_at / ends_at of the current or last episode */
    int64_t notified;           /* monotonic: the last firing notification */
    uint32_t seq;               /* its notification number */
    int64_t resolved;           /* monotonic: the resolution, while a re-send may be due */
    uint32_t resends;           /* re-sends of the resolved notification so far */
    double value;               /* of the last notification (a re-send repeats it) */
    /* the kinds that fire on a counter's growth (overflow, input gap) */
    uint64_t prev;              /* the counter at the previous check */
    uint64_t total;             /* its growth during the current or last episode */
    int64_t last_growth;        /* monotonic; INT64_MIN: none yet */
    char summary[640];
    char description[1024];
} episode;

enum { EP_OVERFLOW, EP_CHECKPOINT, EP_GAP, EP_N };

struct tl_selfalert {
    tl_output *out;
    tl_ack ack;
    int64_t interval_ms, quiet_ms, renotify_ms, resend_for_ms, resend_every_ms;
    int64_t next_check; /* monotonic */
    uint64_t max_series, max_series_total;
    uint64_t healthy_failures;
    char state_dir[256];
    char every[32]; /* the interval, as text */
    episode ep[EP_N];
};

static const char overflow_runbook[] =
    "A label with unbounded values (a tool name, user or trace id in a group_by, or an attacker's "
    "made-up names) went past the series cap. The log line 'cardinality: ...' names the group-by set "
    "and the cap; rule alerts on the overflow series carry overflow=true. Fix the producer, filter "
    "those events out, or drop the label from group_by; raise limits.max_series / "
    "limits.max_series_total only if the cardinality is legitimate and memory allows (tripline check "
    "prints the memory per series). See docs/OPERATIONS.md, Bad input: Cardinality.";

static const char gap_runbook[] =
    "Input was deleted by the topic's retention before tripline read it: it was stopped, or lagged, for "
    "longer than the input topic keeps data. The log line 'input gap: ...' names each partition, the offset "
    "it should have resumed at and how many messages are gone. Alerts for that span may be missing and "
    "windows lack it: look at the span in your other telemetry. Then keep tripline running (ha.mode: "
    "standby), alert on its consumer lag, or raise the input topic's retention.ms above the longest "
    "outage you plan for. See docs/OPERATIONS.md, Delivery guarantees.";

static const char checkpoint_runbook[] =
    "Checkpoints fail: the write to state.dir (disk full, permissions, I/O errors) or, with "
    "state.store: kafka, the copy to the state topic; the log line 'degraded: ...' gives the reason. "
    "The previous checkpoint stays in force and tripline retries every 5 s; this alert resolves at the "
    "first checkpoint that succeeds. While the local write fails, state is not saved and input offsets "
    "are not committed past the last checkpoint, so a restart re-reads everything since; while the copy "
    "fails, a replacement machine would restore an older copy. Free space or repair the volume or the "
    "topic. See docs/OPERATIONS.md, State and checkpoints.";

tl_selfalert *tl_selfalert_new(const tl_config *cfg, tl_output *out)
{
    if (cfg->self_check_ms <= 0)
        return NULL;
    tl_selfalert *sa = tl_calloc(1, sizeof *sa);
    if (!sa) {
        tl_log(TL_LOG_ERROR, "out of memory: the alerts about tripline itself (alerts.self_check_interval) are off");
        return NULL;
    }
    sa->out = out;
    atomic_store(&sa->ack.outstanding, 0);
    sa->interval_ms = cfg->self_check_ms;
    sa->quiet_ms = TL_SELF_QUIET_CHECKS * cfg->self_check_ms;
    sa->renotify_ms = cfg->renotify_ms;
    sa->resend_for_ms = cfg->resend_resolved_ms;
    sa->resend_every_ms = cfg->resend_interval_ms > 0 ? cfg->resend_interval_ms : cfg->resend_resolved_ms;
    sa->next_check = INT64_MIN;
    sa->max_series = cfg->max_series;
    sa->max_series_total = cfg->max_series_total;
    snprintf(sa->state_dir, sizeof sa->state_dir, "%s", cfg->state_dir ? cfg->state_dir : "(none)");
    tl_duration_format(sa->interval_ms, sa->every, sizeof sa->every);
    static const struct {
        const char *name, *severity, *metric, *runbook;
    } kinds[EP_N] = {
        [EP_OVERFLOW] = {TL_SELF_OVERFLOW_ALERT, "warning", "overflowed", overflow_runbook},
        [EP_CHECKPOINT] = {TL_SELF_CHECKPOINT_ALERT, "critical", "checkpoint_failures", checkpoint_runbook},
        [EP_GAP] = {TL_SELF_GAP_ALERT, "critical", "input_gap_messages", gap_runbook},
    };
    for (int k = 0; k < EP_N; k++) {
        episode *ep = &sa->ep[k];
        tl_self_ident_init(&ep->id, kinds[k].name, cfg->group);
        ep->severity = kinds[k].severity;
        ep->metric = kinds[k].metric;
        ep->runbook = kinds[k].runbook;
        ep->resolved = INT64_MIN;
        ep->last_growth = INT64_MIN;
    }
    return sa;
}

/* ---- the checkpoint's engine section ------------------------------------------------------- */

/* Monotonic <-> wall clock, INT64_MIN kept: saved times survive the process. */
static int64_t to_wall(int64_t t, int64_t now_ms, int64_t epoch_ms)
{
    return t == INT64_MIN ? INT64_MIN : epoch_ms - (now_ms - t);
}

static int64_t to_mono(int64_t t, int64_t now_ms, int64_t epoch_ms)
{
    return t == INT64_MIN ? INT64_MIN : now_ms - (epoch_ms - t);
}

void tl_selfalert_save(const tl_selfalert *sa, int64_t now_ms, int64_t epoch_ms, tl_ckw *w)
{
    tl_ckw_u32(w, EP_N);
    for (int k = 0; k < EP_N; k++) {
        const episode *ep = &sa->ep[k];
        tl_ckw_cstr(w, ep->id.name);
        tl_ckw_u8(w, (uint8_t)ep->firing);
        tl_ckw_i64(w, ep->starts_ms);
        tl_ckw_i64(w, ep->ends_ms);
        tl_ckw_i64(w, to_wall(ep->notified, now_ms, epoch_ms));
        tl_ckw_u32(w, ep->seq);
        tl_ckw_i64(w, to_wall(ep->resolved, now_ms, epoch_ms));
        tl_ckw_u32(w, ep->resends);
        tl_ckw_f64(w, ep->value);
        tl_ckw_cstr(w, ep->summary);
        tl_ckw_cstr(w, ep->description);
        tl_ckw_u64(w, ep->total);
        tl_ckw_i64(w, to_wall(ep->last_growth, now_ms, epoch_ms));
    }
}

void tl_selfalert_load(tl_selfalert *sa, int64_t now_ms, int64_t epoch_ms, tl_ckr *r)
{
    uint32_t n = tl_ckr_u32(r);
    if (n > 64) {
        tl_ckr_fail(r, "implausible number of alerts about tripline itself");
        return;
    }
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint32_t len, slen, dlen;
        const char *name = tl_ckr_str(r, &len, 128);
        episode e = {0};
        e.firing = tl_ckr_u8(r);
        e.starts_ms = tl_ckr_i64(r);
        e.ends_ms = tl_ckr_i64(r);
        e.notified = to_mono(tl_ckr_i64(r), now_ms, epoch_ms);
        e.seq = tl_ckr_u32(r);
        e.resolved = to_mono(tl_ckr_i64(r), now_ms, epoch_ms);
        e.resends = tl_ckr_u32(r);
        e.value = tl_ckr_f64(r);
        const char *summary = tl_ckr_str(r, &slen, sizeof e.summary - 1);
        const char *description = tl_ckr_str(r, &dlen, sizeof e.description - 1);
        e.total = tl_ckr_u64(r);
        e.last_growth = to_mono(tl_ckr_i64(r), now_ms, epoch_ms);
        if (r->bad || !sa)
            continue;
        for (int k = 0; k < EP_N; k++) {
            episode *ep = &sa->ep[k];
            if (strlen(ep->id.name) != len || memcmp(ep->id.name, name, len) != 0)
                continue;
            ep->firing = e.firing != 0;
            ep->starts_ms = e.starts_ms;
            ep->ends_ms = e.ends_ms;
            ep->notified = e.notified;
            ep->seq = e.seq;
            ep->resolved = e.resolved;
            ep->resends = e.resends;
            ep->value = e.value;
            memcpy(ep->summary, summary, slen);
            ep->summary[slen] = '\0';
            memcpy(ep->description, description, dlen);
            ep->description[dlen] = '\0';
            ep->total = e.total;
            ep->last_growth = e.last_growth;
        }
    }
}

void tl_selfalert_destroy(tl_selfalert *sa) { tl_free(sa); }

tl_ack *tl_selfalert_ack(tl_selfalert *sa) { return &sa->ack; }

int tl_selfalert_firing(const tl_selfalert *sa, const char *name)
{
    for (int k = 0; k < EP_N; k++)
        if (strcmp(sa->ep[k].id.name, name) == 0)
            return sa->ep[k].firing;
    return 0;
}

int tl_selfalert_due(const tl_selfalert *sa, int64_t now_ms)
{
    return sa->next_check == INT64_MIN || now_ms >= sa->next_check;
}

/* The notification of `ep` as of now, into *a. */
static void build(const tl_selfalert *sa, const episode *ep, tl_alert_state state, int64_t epoch_ms, uint32_t resend,
                  tl_alert *a)
{
    tl_self_alert_init(a, &ep->id, state, epoch_ms, ep->starts_ms, ep->ends_ms,
                       state == TL_ALERT_RESOLVED ? 0 : ep->seq);
    a->metric = ep->metric;
    a->value = ep->value;
    a->threshold = 0;
    a->window_ms = sa->interval_ms;
    a->severity = ep->severity;
    a->runbook = ep->runbook;
    a->summary = ep->summary;
    a->description = ep->description;
    a->resend = resend;
}

static void render_overflow(tl_selfalert *sa, episode *ep, const tl_engine_stats *st)
{
    const char *g = ep->id.instance;
    char quiet[32];
    tl_duration_format(sa->quiet_ms, quiet, sizeof quiet);
    if (ep->firing)
        snprintf(ep->summary, sizeof ep->summary,
                 "tripline (group %s) folded %.0f event contributions into overflow series in the last %s: "
                 "more label combinations than limits.max_series (%llu per group-by set) or "
                 "limits.max_series_total (%llu) allow per worker",
                 g, ep->value, sa->every, (unsigned long long)sa->max_series,
                 (unsigned long long)sa->max_series_total);
    else
        snprintf(ep->summary, sizeof ep->summary,
                 "tripline (group %s): nothing folded into overflow series for %s (%llu contributions "
                 "in this episode)",
                 g, quiet, (unsigned long long)ep->total);
    snprintf(ep->description, sizeof ep->description,
             "On host %s (pid %ld), consumer group %s: series beyond the caps are folded into one "
             "__overflow__ series per group-by set and worker, so rules see those label combinations "
             "merged (their alerts carry overflow=true). %llu contributions overflowed since the start, "
             "%llu series live. The log lines 'cardinality: ...' name the group-by sets and the cap each "
             "reached. Checked every %s; resolves after %s without overflow.",
             ep->id.host, (long)getpid(), g, (unsigned long long)st->overflowed, (unsigned long long)st->series,
             sa->every, quiet);
}

static void render_checkpoint(tl_selfalert *sa, episode *ep, const tl_engine_stats *st)
{
    const char *g = ep->id.instance;
    if (ep->firing)
        snprintf(ep->summary, sizeof ep->summary,
                 "tripline (group %s): checkpoints in %s are failing (%.0f failed attempts): state is not "
                 "being saved; the last good checkpoint stays in force",
                 g, sa->state_dir, ep->value);
    else
        snprintf(ep->summary, sizeof ep->summary, "tripline (group %s): checkpoints in %s work again", g,
                 sa->state_dir);
    snprintf(ep->description, sizeof ep->description,
             "On host %s (pid %ld), consumer group %s: %llu checkpoint attempts failed since the start, "
             "%llu written. A failed checkpoint leaves the previous one in force and is retried every 5 s; "
             "the log has the reason ('degraded: ...').",
             ep->id.host, (long)getpid(), g, (unsigned long long)st->checkpoint_failures,
             (unsigned long long)st->checkpoints);
}

static void render_gap(tl_selfalert *sa, episode *ep, const tl_engine_stats *st)
{
    const char *g = ep->id.instance;
    char quiet[32];
    tl_duration_format(sa->quiet_ms, quiet, sizeof quiet);
    if (ep->firing)
        snprintf(ep->summary, sizeof ep->summary,
                 "tripline (group %s): %.0f input messages were deleted by retention before they were read; "
                 "alerts for them may be missing",
                 g, ep->value);
    else
        snprintf(ep->summary, sizeof ep->summary,
                 "tripline (group %s): no new input gap for %s (%llu messages lost in this episode)", g, quiet,
                 (unsigned long long)ep->total);
    snprintf(ep->description, sizeof ep->description,
             "On host %s (pid %ld), consumer group %s: %llu partitions resumed below their oldest retained offset "
             "since the start, %llu messages skipped in all. The log lines 'input gap: ...' name the partitions "
             "and offsets. Checked every %s; resolves after %s without a new gap.",
             ep->id.host, (long)getpid(), g, (unsigned long long)st->input_gaps,
             (unsigned long long)st->input_gap_messages, sa->every, quiet);
}

typedef void (*render_fn)(tl_selfalert *sa, episode *ep, const tl_engine_stats *st);

/* One step of ep's lifecycle at a check: `cond` holds (fire, or stay firing), `clear` (resolve
 * a firing one), `value` now. Returns 1 with *a filled when a notification is due. */
static int step(tl_selfalert *sa, episode *ep, int cond, int clear, double value, int64_t now, int64_t epoch,
                const tl_engine_stats *st, render_fn render, tl_alert *a)
{
    if (!ep->firing) {
        if (cond) {
            ep->firing = 1;
            ep->starts_ms = epoch;
            ep->ends_ms = -1;
            ep->seq = 0;
            ep->notified = now;
            ep->resolved = INT64_MIN;
            ep->value = value;
            render(sa, ep, st);
            build(sa, ep, TL_ALERT_FIRING, epoch, 0, a);
            return 1;
        }
        if (ep->resolved == INT64_MIN)
            return 0;
        /* the n-th re-send is due at resolved + n * every, for n * every <= resend_for; a late
         * check sends the latest one due (no burst of the missed ones) */
        int64_t k = (now - ep->resolved) / sa->resend_every_ms;
        if (k * sa->resend_every_ms > sa->resend_for_ms)
            k = sa->resend_for_ms / sa->resend_every_ms;
        if (k <= (int64_t)ep->resends)
            return 0;
        ep->resends = (uint32_t)k;
        if ((k + 1) * sa->resend_every_ms > sa->resend_for_ms)
            ep->resolved = INT64_MIN; /* that was the last */
        build(sa, ep, TL_ALERT_RESOLVED, epoch, ep->resends, a);
        return 1;
    }
    if (clear) {
        ep->firing = 0;
        ep->ends_ms = epoch;
        ep->value = value;
        ep->resends = 0;
        ep->resolved = sa->resend_for_ms > 0 && sa->resend_every_ms > 0 && sa->resend_every_ms <= sa->resend_for_ms
                           ? now
                           : INT64_MIN;
        render(sa, ep, st);
        build(sa, ep, TL_ALERT_RESOLVED, epoch, 0, a);
        return 1;
    }
    if (sa->renotify_ms > 0 && now - ep->notified >= sa->renotify_ms) {
        ep->seq++;
        ep->notified = now;
        ep->value = value;
        render(sa, ep, st);
        build(sa, ep, TL_ALERT_FIRING, epoch, 0, a);
        return 1;
    }
    return 0;
}

/* A kind that fires on the growth of `counter` since the previous check (value: the growth)
 * and resolves after quiet_ms without growth. */
static uint32_t step_growth(tl_selfalert *sa, episode *ep, uint64_t counter, int64_t now, int64_t epoch,
                            const tl_engine_stats *st, render_fn render, tl_alert *a)
{
    uint64_t grew = counter > ep->prev ? counter - ep->prev : 0;
    ep->prev = counter;
    if (grew) {
        ep->last_growth = now;
        if (!ep->firing)
            ep->total = 0;
        ep->total += grew;
    }
    int quiet = !grew && (ep->last_growth == INT64_MIN || now - ep->last_growth >= sa->quiet_ms);
    return (uint32_t)step(sa, ep, grew > 0, quiet, (double)grew, now, epoch, st, render, a);
}

uint32_t tl_selfalert_poll(tl_selfalert *sa, int64_t now_ms, int64_t epoch_ms, const tl_engine_stats *st,
                           tl_alert *out)
{
    if (!tl_selfalert_due(sa, now_ms))
        return 0;
    if (sa->next_check == INT64_MIN) {
        /* the first check: where the counters start */
        sa->next_check = now_ms + sa->interval_ms;
        sa->ep[EP_OVERFLOW].prev = st->overflowed;
        /* not the gap counter: gaps are found at the first assignment, which may come before the
         * first check, and every one must be raised (its prev stays 0) */
        sa->healthy_failures = st->checkpoint_failures;
        return 0;
    }
    sa->next_check += sa->interval_ms;
    if (sa->next_check <= now_ms) /* more than an interval missed (a stall): no burst */
        sa->next_check = now_ms + sa->interval_ms;

    uint32_t n = 0;
    n += step_growth(sa, &sa->ep[EP_OVERFLOW], st->overflowed, now_ms, epoch_ms, st, render_overflow, &out[n]);
    n += step_growth(sa, &sa->ep[EP_GAP], st->input_gap_messages, now_ms, epoch_ms, st, render_gap, &out[n]);
    /* checkpoints: the engine's `degraded` flag */
    if (!st->degraded)
        sa->healthy_failures = st->checkpoint_failures;
    uint64_t failed =
        st->checkpoint_failures > sa->healthy_failures ? st->checkpoint_failures - sa->healthy_failures : 0;
    n += (uint32_t)step(sa, &sa->ep[EP_CHECKPOINT], st->degraded != 0, !st->degraded, (double)failed, now_ms,
                        epoch_ms, st, render_checkpoint, &out[n]);
    return n;
}

void tl_selfalert_tick(tl_selfalert *sa, tl_engine *e)
{
    if (!sa)
        return;
    int64_t now = tl_self_clock_ms(CLOCK_MONOTONIC);
    if (!tl_selfalert_due(sa, now))
        return;
    tl_engine_stats st;
    tl_engine_stats_get(e, &st);
    tl_alert a[TL_SELFALERT_MAX];
    uint32_t n = tl_selfalert_poll(sa, now, tl_self_clock_ms(CLOCK_REALTIME), &st, a);
    for (uint32_t i = 0; i < n; i++) {
        if (a[i].resend == 0)
            tl_log(a[i].state == TL_ALERT_FIRING ? TL_LOG_WARN : TL_LOG_INFO, "self alert %s %s (fingerprint %s): %s",
                   a[i].alert, a[i].state == TL_ALERT_FIRING ? "firing" : "resolved", a[i].fingerprint, a[i].summary);
        if (sa->out && tl_output_alert(sa->out, &a[i], &sa->ack) < 0)
            tl_log(TL_LOG_ERROR, "self alert: could not produce %s", a[i].alert);
    }
}
