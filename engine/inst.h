/* engine/inst.h - the lifecycle state of one alert instance (a rule on one series).
 *
 * Follows Prometheus's alerting semantics: inactive -> pending when the condition first
 * holds (pending_since); pending -> firing once it has held for `for`; any evaluation where
 * it does not hold sends pending back to inactive, and firing to resolved (then inactive).
 * While firing, a re-notification is emitted every renotify interval. After a resolution, the
 * resolved notification is re-sent every resend interval for a while (shard.h) unless the
 * instance goes pending again. Times are event time (the watermark at the evaluation), so a
 * replay of the same input gives the same alerts.
 *
 * Series records are zeroed on creation, so an all-zero tl_inst is a valid inactive instance
 * with nothing to re-send (resolved_seq == 0).
 */
#ifndef TL_INST_H
#define TL_INST_H

#include <stdint.h>

typedef enum tl_inst_state { TL_INST_INACTIVE = 0, TL_INST_PENDING = 1, TL_INST_FIRING = 2 } tl_inst_state;

typedef struct tl_inst {
    uint8_t state;
    uint8_t capped;        /* refused by the rule's max_instances in this episode (counted once) */
    uint8_t pad[2];
    uint32_t notify_seq;   /* notifications sent in this firing episode */
    int64_t pending_since; /* event time the condition started holding */
    int64_t fired_at;      /* event time it started firing (starts_at) */
    int64_t last_notify;   /* event time of the last notification */
    int64_t clear_since;   /* firing but the condition stopped holding at this time (keep_firing_for);
                              INT64_MIN when it holds */
    double last_value;     /* value at the last evaluation that kept it pending or firing; after
                              a resolution, the value its resolved notification carried (the
                              re-sends carry it too) */
    int64_t resolved_at;   /* event time of the last resolution (ends_at of its notification);
                              meaningful while resolved_seq > 0 */
    int64_t resolved_sent; /* event time the resolved notification was last sent */
    uint32_t resolved_seq; /* resolved notifications sent for that resolution (1: the original)
                              while re-sends are still due; 0: nothing to re-send */
    uint32_t pad2;
} tl_inst;

#endif
