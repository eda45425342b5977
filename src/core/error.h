/* error.h - errors are values: a status code and a message. */
#ifndef ECN_ERROR_H
#define ECN_ERROR_H

#include "../ecnet.h"

/* Fill err (if not NULL) with a printf-style message; always returns -1 so
 * callers can write `return ecn_fail(err, ...)`. */
int ecn_fail(ecn_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix an existing message: "while loading X: <old message>". */
int ecn_fail_prefix(ecn_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* malloc/calloc that fail with a message instead of returning NULL silently. */
void *ecn_calloc(size_t n, size_t size, ecn_err *err);

#endif
