/* engine/template.h - summary and description templates.
 *
 * Syntax: literal text with {{ name }} placeholders (spaces inside the braces optional).
 * Names: any label of the alert (service, tool, any group-by label, static labels), and
 * `value`, `threshold`, `window`, `alert`, `severity`, `owner`, `metric`. `{{` with no closing
 * `}}`, or an empty name, is a compile error with the 0-based column of the problem.
 *
 * Untrusted values: label values come from events. Rendering strips control characters
 * (bytes < 0x20 and 0x7f) and truncates each substituted value to TL_ALERT_LABEL_MAX bytes
 * (at a UTF-8 boundary). JSON escaping is the encoder's job, not the template's.
 *
 * Ownership: a compiled template is immutable and may be shared between threads.
 */
#ifndef TL_TEMPLATE_H
#define TL_TEMPLATE_H

#include <stddef.h>

typedef struct tl_template tl_template;

/* Compile. On error returns NULL, writes a message to errbuf and the 0-based byte column of
 * the error into *err_col. */
tl_template *tl_template_compile(const char *src, size_t n, char *errbuf, size_t errcap,
                                 size_t *err_col);
void tl_template_destroy(tl_template *t);

/* Number of placeholders and the name of placeholder i (NUL-terminated, owned by t): lets
 * the rule checker reject unknown names with their position. */
size_t tl_template_nvars(const tl_template *t);
const char *tl_template_var(const tl_template *t, size_t i, size_t *col);

/* Resolve a name to its value: return the value (not necessarily NUL-terminated, length in
 * *n) or NULL if unknown (rendered as empty). */
typedef const char *(*tl_template_lookup_fn)(void *ctx, const char *name, size_t *n);

/* Render into out (always NUL-terminated, truncated to cap). Returns the length. */
size_t tl_template_render(const tl_template *t, tl_template_lookup_fn lookup, void *ctx,
                          char *out, size_t cap);

#endif
