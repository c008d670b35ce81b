/* engine/alert_id.c - the identity of an alert: fingerprint and transition id (see alert.h).
 *
 * Why one place: consumers deduplicate on transition_id and group on fingerprint, so every
 * producer of alert events (rule evaluation in shard.c, the alerts about tripline itself in
 * heartbeat.c and selfalert.c) must derive them the same way, and a replay or a re-send must
 * give the same bytes. The hashes are XXH3 (64 and 128 bits) over fixed inputs; changing either
 * input layout changes every id on the wire, which consumers would see as new alerts.
 *
 * Pure, thread-safe, no allocation.
 */
#include <string.h>
#include <xxhash.h>

#include "alert.h"

static void hex(char *out, const unsigned char *b, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

uint64_t tl_alert_set_fingerprint(tl_alert *a, const void *in, size_t n)
{
    uint64_t fp = XXH3_64bits(in, n);
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(fp >> (56 - 8 * i));
    hex(a->fingerprint, b, 8);
    return fp;
}

uint64_t tl_alert_set_fingerprint_of(tl_alert *a, const char *name, const char *const *vals, uint32_t n)
{
    /* name, NUL, values joined by 0x1f: the layout shard.c hashes for a rule without static labels */
    char in[256 + TL_ALERT_MAX_LABELS * (TL_ALERT_LABEL_MAX + 1)];
    size_t len = strnlen(name, 255);
    memcpy(in, name, len);
    in[len++] = '\0';
    for (uint32_t i = 0; i < n && i < TL_ALERT_MAX_LABELS; i++) {
        if (i)
            in[len++] = 0x1f;
        size_t vl = strnlen(vals[i], TL_ALERT_LABEL_MAX);
        memcpy(in + len, vals[i], vl);
        len += vl;
    }
    return tl_alert_set_fingerprint(a, in, len);
}

void tl_alert_set_transition_id(tl_alert *a, uint64_t fingerprint, int64_t starts_at_ms, uint32_t seq)
{
    struct { /* 24 bytes, no padding: hashed as is */
        uint64_t fp;
        int64_t starts;
        uint32_t state, seq;
    } tid = {fingerprint, starts_at_ms, (uint32_t)a->state, seq};
    XXH128_hash_t th = XXH3_128bits(&tid, sizeof tid);
    unsigned char b[16];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(th.high64 >> (56 - 8 * i));
        b[8 + i] = (unsigned char)(th.low64 >> (56 - 8 * i));
    }
    hex(a->transition_id, b, 16);
}
