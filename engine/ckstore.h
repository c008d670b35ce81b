/* engine/ckstore.h - a copy of the checkpoint in a compacted Kafka topic (state.store: kafka).
 *
 * Why: the checkpoint file (checkpoint.h) survives a process restart on the same machine or
 * volume. A replacement machine has no file; with this store it fetches the latest checkpoint
 * from Kafka, which the operators already run replicated, and continues where the old machine
 * stopped, 7-day baselines included.
 *
 * Records, keyed so that compaction keeps exactly the latest checkpoint per consumer group:
 *   "<group>/chunk/<i>"  value: "TLCKCH01" u64 id, u32 i, u32 n, then up to 512 KiB of the file
 *   "<group>/manifest"   value: "TLCKMF01" u64 id, u32 n, u64 file bytes
 * A checkpoint's chunks are produced first and the manifest last, each acknowledged (acks=all,
 * idempotent producer) before the next step, so a reader that finds a manifest finds all its
 * chunks (same id). Chunks beyond a smaller checkpoint's count are deleted with tombstones.
 * The file's own checksum (checkpoint.h) verifies the reassembled bytes.
 *
 * The topic must exist with cleanup.policy=compact (docs/OPERATIONS.md); retention by time
 * would delete the checkpoint of an idle pipeline.
 *
 * Threading: the engine's main thread (put) and start-up (fetch).
 */
#ifndef TL_CKSTORE_H
#define TL_CKSTORE_H

#include <stddef.h>

#include "config.h"

typedef struct tl_ckstore tl_ckstore;

/* A producer for cfg->state_topic with the user's Kafka settings. NULL with err. */
tl_ckstore *tl_ckstore_new(const tl_config *cfg, char *err, size_t errcap);
void tl_ckstore_destroy(tl_ckstore *s);

/* Copy the checkpoint file at path to the topic and wait (up to timeout_ms) until every record
 * is acknowledged. 0, or -1 with err (the previous copy in the topic stays whole). */
int tl_ckstore_put(tl_ckstore *s, const char *path, int timeout_ms, char *err, size_t errcap);

/* Read the topic to its end and install the latest complete checkpoint of cfg->group into
 * cfg->state_dir (tl_checkpoint_install). 1 when the topic holds none, 0 when installed, -1
 * with err. With s, the next put deletes the fetched copy's chunks once it is replaced, and
 * chunks of copies that never got their manifest are deleted now. */
int tl_ckstore_fetch(tl_ckstore *s, const tl_config *cfg, int timeout_ms, char *err, size_t errcap);

#endif
