/* cfg.h - Darknet .cfg files: sections of key=value options.
 *
 * The reader keeps the line of every section and option so that errors can
 * point at them, and marks each option as it is read so that options nobody
 * read (usually typos) can be reported.
 */
#ifndef ECN_CFG_H
#define ECN_CFG_H

#include "error.h"

typedef struct ecn_option {
    char *key, *value;
    int line;
    int used;
    int first_line; /* a repeated key: line of the first one, whose value counts (as in Darknet) */
} ecn_option;

typedef struct ecn_section {
    char *name; /* without brackets: "convolutional" */
    int line;
    ecn_option *opts;
    int n_opts;
} ecn_section;

typedef struct ecn_cfg {
    char *path;
    ecn_section *sections;
    int n_sections;
} ecn_cfg;

int ecn_cfg_read(const char *path, ecn_cfg *cfg, ecn_err *err);
int ecn_cfg_parse(const char *text, size_t len, const char *name, ecn_cfg *cfg, ecn_err *err);
void ecn_cfg_free(ecn_cfg *cfg);

/* Typed option access for one section.  The first bad value records an error
 * and sets `failed`; later calls return defaults, so a section's reader can
 * read all its options and check `failed` once at the end. */
typedef struct ecn_opts {
    const ecn_cfg *cfg;
    ecn_section *sec;
    ecn_err *err;
    int failed;
} ecn_opts;

int ecn_opt_int(ecn_opts *o, const char *key, int def);
float ecn_opt_float(ecn_opts *o, const char *key, float def);
const char *ecn_opt_str(ecn_opts *o, const char *key, const char *def);
int ecn_opt_has(ecn_opts *o, const char *key);
/* Comma-separated lists.  Returns the count (at most max), or 0 when absent. */
int ecn_opt_ints(ecn_opts *o, const char *key, int *out, int max);
int ecn_opt_floats(ecn_opts *o, const char *key, float *out, int max);
/* Number of comma-separated items of an option (0 when absent). */
int ecn_opt_count(ecn_opts *o, const char *key);
/* Record an error at the option's line (or the section's when key is NULL). */
int ecn_opt_fail(ecn_opts *o, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Integer option that must lie in [lo, hi]. */
int ecn_opt_int_range(ecn_opts *o, const char *key, int def, int lo, int hi);

#endif
