/* engine/xfer.h - the records workers send each other through their SPSC rings.
 *
 * FOLD carries one event's contribution for the series a given owner holds: timestamp,
 * filter bits, numeric values, the trace id (for exemplars) and the (group, key) pairs.
 * MERGE carries what the sender pre-aggregated (combine.c) for one series and one plan over a
 * batch: up to TL_DELTA_SLOTS slots with their sketch pairs, and the exemplars.
 * MARK tells an owner that the sender finished its batch `seq`, which is how the sender
 * learns when its input offsets are safe to store (engine.c).
 *
 * The same encoding is the wire format a later scale-out stage would put on an internal
 * topic keyed by series, so it is kept self-contained (no pointers).
 * Threading: encode on the producer side of a ring, decode on the consumer side.
 */
#ifndef TL_XFER_H
#define TL_XFER_H

#include <stddef.h>
#include <stdint.h>

#include "shard.h"
#include "window.h"

enum { TL_XFER_FOLD = 1, TL_XFER_MARK = 2, TL_XFER_MERGE = 3 };

/* Bytes needed to encode the keys of `f` owned by `owner`. */
size_t tl_xfer_fold_size(const tl_fold *f, uint32_t owner, uint32_t filter_words);
/* Encode into buf (size from tl_xfer_fold_size). */
void tl_xfer_fold_encode(void *buf, const tl_fold *f, uint32_t owner, uint32_t filter_words);
/* Decode a FOLD record; keys go to `keys` (capacity ngroups), pointers into rec. */
void tl_xfer_fold_decode(const void *rec, tl_fold *f, tl_fold_key *keys, uint32_t owner,
                         uint32_t filter_words);

/* A MERGE record, as encoded from and decoded into (pointers then point into the record). */
typedef struct tl_xfer_merge {
    uint32_t group, plan, key_len, nex, nslots;
    uint32_t events; /* events the sender folded into the series since its last MERGE for it
                        (on one of the series' records only) */
    uint64_t hash;
    int64_t first_ts, last_ts;
    const char *key;
    const tl_exemplar *ex; /* nex exemplars, oldest first */
    tl_delta_slot slot[TL_DELTA_SLOTS];
} tl_xfer_merge;

size_t tl_xfer_merge_size(const tl_xfer_merge *m);
void tl_xfer_merge_encode(void *buf, const tl_xfer_merge *m);
void tl_xfer_merge_decode(const void *rec, tl_xfer_merge *m);

/* Apply a FOLD or MERGE record to the owner's shard (keys: scratch of ngroups entries for a
 * FOLD's keys). Returns 0, or -1 for any other record type (a MARK: the caller's business). */
int tl_xfer_apply(const void *rec, tl_shard *s, tl_fold_key *keys, uint32_t owner, uint32_t filter_words);

size_t tl_xfer_mark_size(void);
void tl_xfer_mark_encode(void *buf, uint64_t seq);

uint32_t tl_xfer_type(const void *rec);
uint64_t tl_xfer_mark_seq(const void *rec);

#endif
