/* names.h - class names files (one name per line, as Darknet's .names). */
#ifndef ECN_NAMES_H
#define ECN_NAMES_H

#include "ecnet.h"

typedef struct names {
    char **items;
    int n;
} names;

/* path NULL gives an empty list (classes are then printed as numbers). */
int names_load(const char *path, names *out, ecn_err *err);
void names_free(names *n);
/* The name of class k, or its number written into buf. */
const char *names_get(const names *n, int k, char *buf, size_t size);

#endif
