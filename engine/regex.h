/* engine/regex.h - regular expressions for filters (`tool matches "^get_.*_status$"`).
 *
 * Why not <regex.h>: glibc's regexec may allocate per call, and a filter runs on the per-event
 * path. This is a Thompson NFA compiled once at rule load and simulated in lock step over the
 * input (no backtracking, so time is linear in the input and a hostile pattern cannot blow
 * up), with a per-thread scratch allocated once.
 *
 * Syntax (a POSIX ERE subset, bytes not characters): literals, `.`, `[abc]`, `[a-z]`,
 * `[^...]`, `\d \w \s` and their negations `\D \W \S`, `\` escapes of special characters,
 * `^` and `$` anchors, groups `( )`, alternation `|`, and the quantifiers `* + ?`. A match may
 * start anywhere unless the pattern starts with `^`. At most TL_REGEX_MAX_STATES states.
 *
 * Threading: a compiled regex is immutable and shared; each thread matches with its own scratch.
 */
#ifndef TL_REGEX_H
#define TL_REGEX_H

#include <stddef.h>
#include <stdint.h>

#define TL_REGEX_MAX_STATES 512

typedef struct tl_regex tl_regex;

/* Compile; NULL with a message and the 0-based byte position of the problem on error. */
tl_regex *tl_regex_compile(const char *pat, size_t n, char *err, size_t errcap, size_t *err_pos);
void tl_regex_free(tl_regex *re);

/* Scratch for matching any regex of at most TL_REGEX_MAX_STATES states. */
typedef struct tl_regex_scratch {
    uint16_t *cur, *next;
    uint32_t *mark;
    uint32_t gen;
} tl_regex_scratch;
int tl_regex_scratch_init(tl_regex_scratch *s); /* -1 on OOM */
void tl_regex_scratch_fini(tl_regex_scratch *s);

/* 1 if the pattern matches somewhere in s[0..n). */
int tl_regex_match(const tl_regex *re, const char *s, size_t n, tl_regex_scratch *scr);

#endif
