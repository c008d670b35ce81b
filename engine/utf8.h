/* engine/utf8.h - UTF-8 well-formedness (RFC 3629) for text that came from events.
 *
 * Decoders pass event strings through unvalidated (the per-event path does not pay for it);
 * the few places that hand such text to strict consumers (the JSON alert encoder, the console
 * line) check it here, off the per-event path. Pure, header-only.
 */
#ifndef TL_UTF8_H
#define TL_UTF8_H

#include <stddef.h>

/* Length (1..4) of the well-formed UTF-8 sequence that starts at s[0] (n > 0 bytes
 * available), or 0 when s[0] does not start one: a stray continuation byte, an overlong form,
 * a surrogate (U+D800..U+DFFF), a code point above U+10FFFF, 0xC0/0xC1/0xF5..0xFF, or a
 * sequence cut short by n. */
static inline size_t tl_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else
        return 0;
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

#endif
