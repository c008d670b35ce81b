/* engine/decode_err.c - decode error names and formatting (see decode_err.h). */
#include <stdarg.h>
#include <stdio.h>

#include "decode_err.h"

static const char *const names[] = {
#define TL_X_(E, name, text) #name,
    TL_DECODE_ERRORS(TL_X_)
#undef TL_X_
};

static const char *const texts[] = {
#define TL_X_(E, name, text) text,
    TL_DECODE_ERRORS(TL_X_)
#undef TL_X_
};

const char *tl_decode_code_name(tl_decode_code c)
{
    return (unsigned)c < TL_DECODE__COUNT ? names[c] : "unknown";
}

const char *tl_decode_code_text(tl_decode_code c)
{
    return (unsigned)c < TL_DECODE__COUNT ? texts[c] : "unknown error";
}

int tl_decode_fail(tl_decode_err *err, tl_decode_code code, size_t offset, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->code = code;
    err->offset = (uint32_t)offset;
    err->detail[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->detail, sizeof err->detail, fmt, ap);
        va_end(ap);
    }
    return -1;
}

const char *tl_decode_err_format(const tl_decode_err *err, char *buf, size_t cap)
{
    if (err->detail[0])
        snprintf(buf, cap, "%s at byte %u: %s (%s)", tl_decode_code_name(err->code), err->offset,
                 tl_decode_code_text(err->code), err->detail);
    else
        snprintf(buf, cap, "%s at byte %u: %s", tl_decode_code_name(err->code), err->offset,
                 tl_decode_code_text(err->code));
    return buf;
}
