/* engine/yamldoc.h - a YAML document as a small tree that remembers where each node was.
 *
 * Rule files and the config file are YAML. Their errors must say `file:line:col: message`,
 * so the loaders need every node's position, which libyaml's event stream provides but
 * jansson-style trees do not. This module loads one YAML document (libyaml's document API)
 * and exposes its nodes with 1-based line and column, plus typed accessors that produce
 * positioned error messages. Anchors/aliases are resolved by libyaml. Only the first document
 * of a stream is read; a second document is an error.
 *
 * Ownership: tl_ydoc owns every node and string; nodes are valid until tl_ydoc_destroy().
 * Not thread-safe (load once, read on one thread).
 */
#ifndef TL_YAMLDOC_H
#define TL_YAMLDOC_H

#include <stddef.h>
#include <stdint.h>

typedef enum tl_ynode_type { TL_Y_SCALAR, TL_Y_SEQ, TL_Y_MAP } tl_ynode_type;

/* Scalar quoting style: lets callers tell `"10"` (a string) from `10`. */
typedef enum tl_ystyle { TL_YS_PLAIN, TL_YS_QUOTED, TL_YS_BLOCK } tl_ystyle;

typedef struct tl_ynode tl_ynode;
struct tl_ynode {
    tl_ynode_type type;
    uint32_t line, col;  /* 1-based position of the node's first character */
    /* TL_Y_SCALAR */
    const char *str;     /* NUL-terminated */
    size_t len;
    tl_ystyle style;
    const char *raw;     /* the scalar as written in the source (quotes, escapes), NUL-terminated */
    size_t raw_len;
    /* TL_Y_SEQ: items; TL_Y_MAP: keys[i] -> items[i] (keys are scalars) */
    size_t n;
    tl_ynode **items;
    tl_ynode **keys;
};

typedef struct tl_ydoc {
    char *path;     /* as given to load; used in error messages */
    tl_ynode *root; /* NULL for an empty document */
    void *impl;
} tl_ydoc;

/* Load a file / a buffer (path is used only for messages). On error returns NULL and writes
 * "path:line:col: message" into err. */
tl_ydoc *tl_ydoc_load_file(const char *path, char *err, size_t errcap);
tl_ydoc *tl_ydoc_load_string(const char *path, const char *buf, size_t len, char *err,
                             size_t errcap);
void tl_ydoc_destroy(tl_ydoc *d);

/* Map lookup by key; NULL if absent or m is not a map. */
tl_ynode *tl_ynode_get(const tl_ynode *m, const char *key);

/* Position (1-based line, col) in the source of byte `off` of a scalar's value: maps through
 * quoting, escapes and block indentation, so an error inside an expression points at the
 * character as written. */
void tl_ynode_pos(const tl_ynode *n, size_t off, uint32_t *line, uint32_t *col);

/* Write "path:line:col: <fmt...>" into err; returns -1. */
int tl_ydoc_error(const tl_ydoc *d, const tl_ynode *at, char *err, size_t errcap,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Typed scalar readers. Each returns 0, or -1 with a positioned message in err. */
int tl_ynode_str(const tl_ydoc *d, const tl_ynode *n, const char **out, char *err, size_t cap);
int tl_ynode_int(const tl_ydoc *d, const tl_ynode *n, int64_t min, int64_t max, int64_t *out,
                 char *err, size_t cap);
int tl_ynode_double(const tl_ydoc *d, const tl_ynode *n, double *out, char *err, size_t cap);
int tl_ynode_bool(const tl_ydoc *d, const tl_ynode *n, int *out, char *err, size_t cap);
/* Durations in Prometheus notation via tl_duration_parse ("10m", "1h30m"). */
int tl_ynode_duration(const tl_ydoc *d, const tl_ynode *n, int64_t *out_ms, char *err,
                      size_t cap);

/* Reject keys of map `m` not in the NULL-terminated list `allowed`, with the position of the
 * offending key and, when one is close, "did you mean 'x'?". */
int tl_ynode_check_keys(const tl_ydoc *d, const tl_ynode *m, const char *const *allowed,
                        char *err, size_t cap);

#endif
