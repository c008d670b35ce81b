/* engine/event.c - field name tables and lookups for the trace event (include/tripline/event.h).
 * Not on the per-event path except tl_event_attr(), which is a short linear scan. */
#include <string.h>

#include "tripline/event.h"

const char *const tl_str_field_names[TL_S__COUNT] = {
#define TL_X_(E, n) #n,
    TL_EVENT_STR_FIELDS(TL_X_)
#undef TL_X_
};

const char *const tl_num_field_names[TL_N__COUNT] = {
#define TL_X_(E, n) #n,
    TL_EVENT_NUM_FIELDS(TL_X_)
#undef TL_X_
};

const char *const tl_trace_field_names[TL_T__COUNT] = {
#define TL_X_(E, n) #n,
    TL_EVENT_TRACE_FIELDS(TL_X_)
#undef TL_X_
};

static int lookup(const char *const *names, int count, const char *name, size_t n)
{
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
            return i;
    return -1;
}

int tl_str_field_lookup(const char *name, size_t n) { return lookup(tl_str_field_names, TL_S__COUNT, name, n); }
int tl_num_field_lookup(const char *name, size_t n) { return lookup(tl_num_field_names, TL_N__COUNT, name, n); }

tl_str tl_event_attr(const tl_event *ev, tl_str key, int *found)
{
    /* Last occurrence wins, matching JSON's duplicate-key convention. */
    for (uint32_t i = ev->n_attrs; i-- > 0;) {
        if (tl_str_eq(ev->attr_key[i], key)) {
            *found = 1;
            return ev->attr_val[i];
        }
    }
    *found = 0;
    return (tl_str){0, 0};
}
