/* engine/route.h - from a decoded event to the contributions its series' owners apply.
 *
 * For each event: evaluate every filter once (filter.h), then for each group that has a
 * plan whose filter matched, build the series key from the group's label values, hash it,
 * and pick the owner (tl_series_owner). The result is one tl_fold listing every (group, key,
 * owner); the worker applies the keys it owns itself and ships the others to their owners.
 * Numeric values are copied only for the fields some plan aggregates (num_used).
 *
 * Keys: label values joined by 0x1f; each value is truncated to TL_ALERT_LABEL_MAX bytes (at
 * a UTF-8 boundary) and a 0x1f inside a value is replaced by '_' so it cannot fake a label
 * boundary. Label sets that differ only beyond the truncation, or only by 0x1f vs '_',
 * therefore share a series; a missing label reads as the empty string.
 * Threading: one router per worker; the program is shared read-only. No allocation per event.
 */
#ifndef TL_ROUTE_H
#define TL_ROUTE_H

#include <stdint.h>

#include "filter.h"
#include "shard.h"

typedef struct tl_router {
    const tl_program *prog;
    uint32_t nowners;
    tl_filter_ctx fc;
    tl_fold_key *keys; /* ngroups */
    char *keybuf;
    size_t keycap;
    uint32_t num_used; /* numeric fields some plan aggregates: the only ones read per event */
} tl_router;

int tl_router_init(tl_router *r, const tl_program *prog, uint32_t nowners);
void tl_router_fini(tl_router *r);

/* Route one event into *out (valid until the next call). Returns the number of keys. */
uint32_t tl_router_route(tl_router *r, const tl_event *ev, tl_fold *out);

#endif
