/* engine/ckio.h - byte-level writer and reader for checkpoint files.
 *
 * Why its own file: the checkpoint format (checkpoint.c) is written by several modules (window
 * slots, sketches, series records, trace records), and each must write and read exactly the
 * same bytes. Numbers are written little-endian with explicit widths, never as raw structs, so
 * a file does not depend on struct padding or the compiler, and a reader can check every
 * length against what is left.
 *
 * Writer: buffered into a FILE, with a running XXH3 checksum of every byte written; the first
 * failed write (ENOSPC, EIO) sticks in `err` and later writes do nothing.
 * Reader: over a buffer in memory (the whole file); a read past the end, or a length that
 * does not fit, sets `bad` with the offset and a reason, and later reads return zeros, so a
 * decoder can read a whole record and check once.
 *
 * Threading: a writer or reader belongs to one thread.
 */
#ifndef TL_CKIO_H
#define TL_CKIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct tl_ckw {
    FILE *f;
    void *hash;     /* XXH3_state_t */
    uint64_t bytes; /* written so far */
    int err;        /* errno of the first failure, 0 if none */
} tl_ckw;

/* Start writing into f (owned by the caller). -1 on out of memory. */
int tl_ckw_init(tl_ckw *w, FILE *f);
void tl_ckw_fini(tl_ckw *w);
void tl_ckw_bytes(tl_ckw *w, const void *p, size_t n);
void tl_ckw_u8(tl_ckw *w, uint8_t v);
void tl_ckw_u16(tl_ckw *w, uint16_t v);
void tl_ckw_u32(tl_ckw *w, uint32_t v);
void tl_ckw_u64(tl_ckw *w, uint64_t v);
static inline void tl_ckw_i32(tl_ckw *w, int32_t v) { tl_ckw_u32(w, (uint32_t)v); }
static inline void tl_ckw_i64(tl_ckw *w, int64_t v) { tl_ckw_u64(w, (uint64_t)v); }
void tl_ckw_f64(tl_ckw *w, double v);
/* A length-prefixed string (u32 length, bytes). NULL writes an empty string. */
void tl_ckw_str(tl_ckw *w, const char *s, size_t n);
static inline void tl_ckw_cstr(tl_ckw *w, const char *s) { tl_ckw_str(w, s, s ? strlen(s) : 0); }
/* The checksum of everything written so far. */
uint64_t tl_ckw_digest(const tl_ckw *w);

typedef struct tl_ckr {
    const uint8_t *p;
    size_t n, pos;
    int bad;
    size_t bad_at;
    const char *why;
} tl_ckr;

void tl_ckr_init(tl_ckr *r, const void *p, size_t n);
/* Mark the reader bad at the current offset (first reason wins); returns -1. */
int tl_ckr_fail(tl_ckr *r, const char *why);
const void *tl_ckr_bytes(tl_ckr *r, size_t n); /* NULL (and bad) if fewer than n are left */
uint8_t tl_ckr_u8(tl_ckr *r);
uint16_t tl_ckr_u16(tl_ckr *r);
uint32_t tl_ckr_u32(tl_ckr *r);
uint64_t tl_ckr_u64(tl_ckr *r);
static inline int32_t tl_ckr_i32(tl_ckr *r) { return (int32_t)tl_ckr_u32(r); }
static inline int64_t tl_ckr_i64(tl_ckr *r) { return (int64_t)tl_ckr_u64(r); }
double tl_ckr_f64(tl_ckr *r);
/* A string written by tl_ckw_str, as a view into the buffer; *n = 0 and "" when bad. Longer
 * than `max`: bad. */
const char *tl_ckr_str(tl_ckr *r, uint32_t *n, uint32_t max);

#endif
