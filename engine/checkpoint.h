/* engine/checkpoint.h - window, alert and progress state in a file that survives restarts.
 *
 * Why: a pager that forgets its 7-day baseline and its firing alerts at every restart either
 * stays silent for a week or pages again for what it already paged. A checkpoint is a
 * consistent cut: the state of every shard after exactly the input before its offsets, plus
 * those offsets and the watermark. The engine takes it with its workers parked (nothing is
 * consumed, folded or evaluated meanwhile) once every alert of that state was acknowledged, so
 * restoring it and reading on from its offsets gives what a run that never stopped would give.
 *
 * On disk: one file, `checkpoint` in the state directory, written as `checkpoint.tmp`, flushed,
 * fsync'd, renamed over the old one, and the directory fsync'd, so a crash at any point leaves
 * either the old checkpoint or the new one, never a mix. Format (all integers little-endian):
 *
 *   "TLCKPT\r\n"  u32 version (TL_CHECKPOINT_VERSION)  u32 flags (0)
 *   i64 wall-clock time written (ms)  i64 watermark
 *   offsets:  u32 n, then n x (str topic, i32 partition, i64 next offset, u32 worker)
 *   program:  u32 groups, each (u32 labels, str label...; u32 plans, u32 plan id...;
 *                               u32 rules, u32 rule id...)
 *             u32 plans, each (u64 signature, u8 kind)
 *             u32 rules, each (str name, u64 definition signature)
 *   shards:   u32 n, each as tl_shard_save writes it (shard.h)
 *   traces:   u32 n (workers), each (u8 present, then as tl_traces_save writes it, traces.h)
 *   engine:   u8 present, then as the section's save writes it (version 2; the engine's own
 *             state outside the shards: the alerts about tripline itself, selfalert.h)
 *   "TLCKEND\n"  u64 XXH3 of every byte before it
 *
 * Versions read: 1 (no engine section) and 2. Written: 2.
 *
 * Groups, plans and rules are matched to the running program by what they are (shard.h), so a
 * changed rule pack keeps the state of what it did not change, as a hot reload does. A
 * checkpoint of another version, a truncated or corrupt one (checksum), or one that cannot be
 * parsed is refused with the reason; the operator may start fresh instead (state.on_unreadable:
 * fresh), and the refused file is kept aside, never overwritten.
 *
 * Per-trace state (open traces, sequence progress, learned tool combinations) is kept per
 * worker, because a trace belongs to the worker that reads its partition: each offset names
 * the worker that read it, and after a restart that partition goes to the same worker (modulo
 * the number of workers, like its traces), so a trace open across the restart continues where
 * it was.
 *
 * Threading: called by the engine's main thread while the workers are parked, or before they
 * start; nothing here locks.
 */
#ifndef TL_CHECKPOINT_H
#define TL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "program.h"
#include "shard.h"

#define TL_CHECKPOINT_VERSION 2
#define TL_CHECKPOINT_OLDEST 1 /* the oldest version still read */

struct tl_ckw;
struct tl_ckr;

/* The engine section: state that belongs to no shard. save writes it; load reads it and
 * reports a malformed record through the reader (tl_ckr_fail). A file without the section
 * calls nothing; a caller without a load drops the file's section (it is the last one). */
typedef struct tl_ckpt_section {
    void (*save)(void *ctx, struct tl_ckw *w);
    void (*load)(void *ctx, struct tl_ckr *r);
    void *ctx;
} tl_ckpt_section;

typedef struct tl_ckpt_offset {
    char *topic;
    int32_t partition;
    int64_t offset; /* next offset to read */
    uint32_t worker; /* the worker that read it: its open traces are in that worker's table */
} tl_ckpt_offset;

typedef struct tl_ckpt_info {
    int64_t written_ms; /* wall clock */
    int64_t watermark;
    tl_ckpt_offset *offs;
    size_t noffs;
    uint64_t bytes;
    uint64_t dropped; /* series or sketches a smaller limit of this run could not take */
} tl_ckpt_info;

/* Write a checkpoint of `shards` (one per worker), `traces` (one per worker, NULL entries or
 * NULL when the program keeps no per-trace state) and the engine section (NULL: none) with the
 * given offsets. 0, or -1 with "dir/checkpoint.tmp:
 * write: No space left on device" (or the like) in err; the previous checkpoint is untouched
 * either way. *bytes (may be NULL) gets the file size. */
struct tl_traces;
int tl_checkpoint_write(const char *dir, const tl_program *prog, tl_shard *const *shards,
                        struct tl_traces *const *traces, const tl_ckpt_section *section, uint32_t nshards,
                        int64_t watermark, const tl_ckpt_offset *offs, size_t noffs, uint64_t *bytes, char *err,
                        size_t errcap);

/* Load dir/checkpoint into freshly created shards and trace tables (all of `prog`, none fed
 * yet; saved worker k's traces go to traces[k % nshards]) and the engine section (section may
 * be NULL, or have a NULL load: the file's section is then dropped). Returns 1
 * when there is no checkpoint (a first start), 0 when loaded (info filled; free it with
 * tl_ckpt_info_fini), -1 when it is unreadable or incompatible, with the reason in err; the
 * shards may then hold part of it and must be recreated. */
int tl_checkpoint_load(const char *dir, const tl_program *prog, tl_shard **shards, struct tl_traces **traces,
                       const tl_ckpt_section *section, uint32_t nshards, tl_ckpt_info *info, char *err,
                       size_t errcap);

/* Install a checkpoint's bytes (fetched from the Kafka copy, ckstore.h) as dir/checkpoint,
 * atomically like a write. 0 or -1 with err. */
int tl_checkpoint_install(const char *dir, const void *bytes, size_t len, char *err, size_t errcap);

/* The path of dir's checkpoint file into buf. */
void tl_checkpoint_path(const char *dir, char *buf, size_t cap);

/* Move an unreadable checkpoint aside (dir/checkpoint.refused-<time>), so a fresh start does
 * not overwrite what an operator may want to inspect. 0 or -1 with err. */
int tl_checkpoint_set_aside(const char *dir, char *err, size_t errcap);

/* Create dir if needed and check that a file can be created in it. 0 or -1 with err. */
int tl_checkpoint_prepare_dir(const char *dir, char *err, size_t errcap);

void tl_ckpt_info_fini(tl_ckpt_info *info);

#endif
