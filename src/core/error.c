/* error.c - filling error messages. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ecn_fail(ecn_err *err, const char *fmt, ...)
{
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int ecn_fail_prefix(ecn_err *err, const char *fmt, ...)
{
    if (!err) return -1;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix), cap = sizeof err->msg;
    if (n > cap - 3) n = cap - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t rest = strnlen(old, cap - n - 3);
    memcpy(err->msg + n + 2, old, rest);
    err->msg[n + 2 + rest] = 0;
    return -1;
}

void *ecn_calloc(size_t n, size_t size, ecn_err *err)
{
    if (n == 0 || size == 0) n = size = 1;
    if (n > (size_t)-1 / size) {
        ecn_fail(err, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = calloc(n, size);
    if (!p) ecn_fail(err, "out of memory allocating %zu bytes", n * size);
    return p;
}
