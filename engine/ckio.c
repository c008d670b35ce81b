/* engine/ckio.c - checkpoint byte writer and reader (see ckio.h). */
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "ckio.h"

int tl_ckw_init(tl_ckw *w, FILE *f)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    XXH3_state_t *h = XXH3_createState();
    if (!h)
        return -1;
    XXH3_64bits_reset(h);
    w->hash = h;
    return 0;
}

void tl_ckw_fini(tl_ckw *w)
{
    if (w->hash)
        XXH3_freeState(w->hash);
    w->hash = NULL;
}

void tl_ckw_bytes(tl_ckw *w, const void *p, size_t n)
{
    if (w->err || n == 0)
        return;
    if (fwrite(p, 1, n, w->f) != n) {
        w->err = errno ? errno : EIO;
        return;
    }
    XXH3_64bits_update(w->hash, p, n);
    w->bytes += n;
}

void tl_ckw_u8(tl_ckw *w, uint8_t v) { tl_ckw_bytes(w, &v, 1); }

void tl_ckw_u16(tl_ckw *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    tl_ckw_bytes(w, b, 2);
}

void tl_ckw_u32(tl_ckw *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    tl_ckw_bytes(w, b, 4);
}

void tl_ckw_u64(tl_ckw *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    tl_ckw_bytes(w, b, 8);
}

void tl_ckw_f64(tl_ckw *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    tl_ckw_u64(w, u);
}

void tl_ckw_str(tl_ckw *w, const char *s, size_t n)
{
    tl_ckw_u32(w, (uint32_t)n);
    tl_ckw_bytes(w, s, n);
}

uint64_t tl_ckw_digest(const tl_ckw *w) { return XXH3_64bits_digest(w->hash); }

void tl_ckr_init(tl_ckr *r, const void *p, size_t n)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->n = n;
}

int tl_ckr_fail(tl_ckr *r, const char *why)
{
    if (!r->bad) {
        r->bad = 1;
        r->bad_at = r->pos;
        r->why = why;
    }
    return -1;
}

const void *tl_ckr_bytes(tl_ckr *r, size_t n)
{
    if (r->bad)
        return NULL;
    if (n > r->n - r->pos) {
        tl_ckr_fail(r, "truncated");
        return NULL;
    }
    const void *p = r->p + r->pos;
    r->pos += n;
    return p;
}

static uint64_t le(tl_ckr *r, int n)
{
    const uint8_t *b = tl_ckr_bytes(r, (size_t)n);
    uint64_t v = 0;
    for (int i = 0; b && i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

uint8_t tl_ckr_u8(tl_ckr *r) { return (uint8_t)le(r, 1); }
uint16_t tl_ckr_u16(tl_ckr *r) { return (uint16_t)le(r, 2); }
uint32_t tl_ckr_u32(tl_ckr *r) { return (uint32_t)le(r, 4); }
uint64_t tl_ckr_u64(tl_ckr *r) { return le(r, 8); }

double tl_ckr_f64(tl_ckr *r)
{
    uint64_t u = tl_ckr_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

const char *tl_ckr_str(tl_ckr *r, uint32_t *n, uint32_t max)
{
    uint32_t len = tl_ckr_u32(r);
    if (!r->bad && len > max)
        tl_ckr_fail(r, "string longer than its limit");
    const char *p = r->bad ? NULL : tl_ckr_bytes(r, len);
    *n = p ? len : 0;
    return p ? p : "";
}
