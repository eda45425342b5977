/* names.c - see names.h. */
#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int names_load(const char *path, names *out, ecn_err *err)
{
    out->items = NULL;
    out->n = 0;
    if (!path) return 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char **p = realloc(out->items, (size_t)(out->n + 1) * sizeof *p);
        if (!p || !(p[out->n] = strdup(line))) {
            if (p) out->items = p;
            fclose(f);
            names_free(out);
            snprintf(err->msg, sizeof err->msg, "%s: out of memory", path);
            return -1;
        }
        out->items = p;
        out->n++;
    }
    fclose(f);
    return 0;
}

void names_free(names *n)
{
    for (int i = 0; i < n->n; i++) free(n->items[i]);
    free(n->items);
    n->items = NULL;
    n->n = 0;
}

const char *names_get(const names *n, int k, char *buf, size_t size)
{
    if (k >= 0 && k < n->n) return n->items[k];
    snprintf(buf, size, "%d", k);
    return buf;
}
