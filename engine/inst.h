/* engine/inst.h - the lifecycle state of one alert instance (a rule on one series).
 *
 * Follows Prometheus's alerting semantics: inactive -> pending when the condition first
 * holds (pending_since); pending -> firing once it has held for `for`; any evaluation where
 * it does not hold sends pending back to inactive, and firing to resolved (then inactive).
 * While firing, a re-notification is emitted every renotify interval. Times are event time
 * (the watermark at the evaluation), so a replay of the same input gives the same alerts.
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
    double last_value;
    int64_t resolved_at;   /* event time of the last resolution, while its notification is still
                              re-sent (alerts.resend_resolved_for); INT64_MIN: none */
    int64_t resolved_sent; /* event time the resolved notification was last sent */
    uint32_t resolved_seq; /* resolved notifications sent for that resolution */
    uint32_t pad2;
} tl_inst;

#endif
