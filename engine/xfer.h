/* engine/xfer.h - the records workers send each other through their SPSC rings.
 *
 * FOLD carries one event's contribution for the series a given owner holds: timestamp,
 * filter bits, numeric values, the trace id (for exemplars) and the (group, key) pairs.
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

enum { TL_XFER_FOLD = 1, TL_XFER_MARK = 2 };

/* Bytes needed to encode the keys of `f` owned by `owner`. */
size_t tl_xfer_fold_size(const tl_fold *f, uint32_t owner, uint32_t filter_words);
/* Encode into buf (size from tl_xfer_fold_size). */
void tl_xfer_fold_encode(void *buf, const tl_fold *f, uint32_t owner, uint32_t filter_words);
/* Decode a FOLD record; keys go to `keys` (capacity ngroups), pointers into rec. */
void tl_xfer_fold_decode(const void *rec, tl_fold *f, tl_fold_key *keys, uint32_t owner,
                         uint32_t filter_words);

size_t tl_xfer_mark_size(void);
void tl_xfer_mark_encode(void *buf, uint64_t seq);

uint32_t tl_xfer_type(const void *rec);
uint64_t tl_xfer_mark_seq(const void *rec);

#endif
