/* cfg.c - reading Darknet .cfg files.
 *
 * The syntax, as Darknet reads it: one item per line; whitespace anywhere is
 * ignored ("saturation = 1.5" is "saturation=1.5"); lines starting with '#'
 * or ';' are comments; "[name]" opens a section; "key=value" adds an option
 * to the open section.
 */
#include "cfg.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing -------------------------------------------------------- */

/* Copy [s, s+n) without whitespace into a fresh string. */
static char *strip_copy(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\v' && s[i] != '\f')
            out[k++] = s[i];
    out[k] = 0;
    return out;
}

static int grow(void **arr, int count, size_t elem, ecn_err *err)
{
    if (count & (count - 1)) return 0; /* capacity doubles at powers of two */
    void *p = realloc(*arr, (size_t)(count ? 2 * count : 1) * elem);
    if (!p) return ecn_fail(err, "out of memory reading cfg");
    *arr = p;
    return 0;
}

static int add_section(ecn_cfg *cfg, char *line, int lineno, ecn_err *err)
{
    size_t n = strlen(line);
    if (n < 3 || line[n - 1] != ']')
        return ecn_fail(err, "%s:%d: expected a section header like [convolutional], got '%s'",
                        cfg->path, lineno, line);
    if (grow((void **)&cfg->sections, cfg->n_sections, sizeof(ecn_section), err)) return -1;
    ecn_section *s = &cfg->sections[cfg->n_sections++];
    memset(s, 0, sizeof *s);
    line[n - 1] = 0;
    s->name = strdup(line + 1);
    s->line = lineno;
    return s->name ? 0 : ecn_fail(err, "out of memory reading cfg");
}

static int add_option(ecn_cfg *cfg, char *line, int lineno, ecn_err *err)
{
    char *eq = strchr(line, '=');
    if (!eq || eq == line)
        return ecn_fail(err, "%s:%d: expected key=value, got '%s'", cfg->path, lineno, line);
    if (cfg->n_sections == 0)
        return ecn_fail(err, "%s:%d: option '%s' comes before any [section]", cfg->path, lineno,
                        line);
    ecn_section *s = &cfg->sections[cfg->n_sections - 1];
    *eq = 0;
    int first_line = 0;
    for (int i = 0; i < s->n_opts && !first_line; i++)
        if (strcmp(s->opts[i].key, line) == 0) first_line = s->opts[i].line;
    if (grow((void **)&s->opts, s->n_opts, sizeof(ecn_option), err)) return -1;
    ecn_option *o = &s->opts[s->n_opts++];
    o->key = strdup(line);
    o->value = strdup(eq + 1);
    o->line = lineno;
    o->used = 0;
    o->first_line = first_line;
    return (o->key && o->value) ? 0 : ecn_fail(err, "out of memory reading cfg");
}

int ecn_cfg_parse(const char *text, size_t len, const char *name, ecn_cfg *cfg, ecn_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->path = strdup(name ? name : "<cfg>");
    if (!cfg->path) return ecn_fail(err, "out of memory reading cfg");
    int lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        lineno++;
        if (memchr(text + pos, 0, end - pos)) {
            ecn_fail(err, "%s:%d: NUL byte: this is not a text cfg file", cfg->path, lineno);
            ecn_cfg_free(cfg);
            return -1;
        }
        char *line = strip_copy(text + pos, end - pos);
        if (!line) {
            ecn_cfg_free(cfg);
            return ecn_fail(err, "out of memory reading cfg");
        }
        int rc = 0;
        if (line[0] == '[') rc = add_section(cfg, line, lineno, err);
        else if (line[0] && line[0] != '#' && line[0] != ';') rc = add_option(cfg, line, lineno, err);
        free(line);
        if (rc) {
            ecn_cfg_free(cfg);
            return -1;
        }
        pos = end + 1;
    }
    if (cfg->n_sections == 0) {
        ecn_fail(err, "%s: no sections: expected [net] followed by layers", cfg->path);
        ecn_cfg_free(cfg);
        return -1;
    }
    return 0;
}

int ecn_cfg_read(const char *path, ecn_cfg *cfg, ecn_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ecn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 65536;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return ecn_fail(err, "%s: out of memory", path);
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? ecn_fail(err, "%s: read error", path) : ecn_cfg_parse(buf, len, path, cfg, err);
    free(buf);
    return rc;
}

void ecn_cfg_free(ecn_cfg *cfg)
{
    for (int i = 0; i < cfg->n_sections; i++) {
        ecn_section *s = &cfg->sections[i];
        for (int j = 0; j < s->n_opts; j++) {
            free(s->opts[j].key);
            free(s->opts[j].value);
        }
        free(s->opts);
        free(s->name);
    }
    free(cfg->sections);
    free(cfg->path);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- typed access --------------------------------------------------- */

static ecn_option *find(ecn_opts *o, const char *key)
{
    /* The first of repeated keys counts, as in Darknet. */
    for (int i = 0; i < o->sec->n_opts; i++)
        if (!o->sec->opts[i].first_line && strcmp(o->sec->opts[i].key, key) == 0) {
            o->sec->opts[i].used = 1;
            return &o->sec->opts[i];
        }
    return NULL;
}

int ecn_opt_fail(ecn_opts *o, const char *key, const char *fmt, ...)
{
    if (o->failed) return -1; /* keep the first error */
    o->failed = 1;
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ecn_option *opt = NULL;
    for (int i = 0; key && i < o->sec->n_opts && !opt; i++)
        if (strcmp(o->sec->opts[i].key, key) == 0) opt = &o->sec->opts[i];
    if (opt)
        return ecn_fail(o->err, "%s:%d: [%s] %s=%s: %s", o->cfg->path, opt->line, o->sec->name,
                        key, opt->value, what);
    return ecn_fail(o->err, "%s:%d: [%s]%s%s: %s", o->cfg->path, o->sec->line, o->sec->name,
                    key ? " " : "", key ? key : "", what);
}

static int parse_long(const char *s, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return (end != s && *end == 0 && errno == 0) ? 0 : -1;
}

static int parse_float(const char *s, float *v)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(d) || fabs(d) > 3e38) return -1;
    *v = (float)d;
    return 0;
}

int ecn_opt_int(ecn_opts *o, const char *key, int def)
{
    ecn_option *opt = find(o, key);
    if (!opt || o->failed) return def;
    long v;
    if (parse_long(opt->value, &v) || v < INT_MIN || v > INT_MAX) {
        ecn_opt_fail(o, key, "expected an integer");
        return def;
    }
    return (int)v;
}

int ecn_opt_int_range(ecn_opts *o, const char *key, int def, int lo, int hi)
{
    int v = ecn_opt_int(o, key, def);
    if (!o->failed && (v < lo || v > hi)) {
        ecn_opt_fail(o, key, "expected an integer from %d to %d", lo, hi);
        return def;
    }
    return v;
}

float ecn_opt_float(ecn_opts *o, const char *key, float def)
{
    ecn_option *opt = find(o, key);
    if (!opt || o->failed) return def;
    float v;
    if (parse_float(opt->value, &v)) {
        ecn_opt_fail(o, key, "expected a number");
        return def;
    }
    return v;
}

const char *ecn_opt_str(ecn_opts *o, const char *key, const char *def)
{
    ecn_option *opt = find(o, key);
    return opt ? opt->value : def;
}

int ecn_opt_has(ecn_opts *o, const char *key) { return find(o, key) != NULL; }

int ecn_opt_count(ecn_opts *o, const char *key)
{
    ecn_option *opt = find(o, key);
    if (!opt || !opt->value[0]) return 0;
    int n = 1;
    for (const char *p = opt->value; *p; p++) n += *p == ',';
    return n;
}

/* Split a comma list, calling each(item) for up to max items. */
static int split_list(ecn_opts *o, const char *key, int max, int (*each)(const char *, void *, int),
                      void *out)
{
    ecn_option *opt = find(o, key);
    if (!opt || o->failed || !opt->value[0]) return 0;
    int n = 0;
    const char *p = opt->value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];
        if (n >= max) return ecn_opt_fail(o, key, "expected at most %d values", max);
        if (len == 0 || len >= sizeof item) return ecn_opt_fail(o, key, "item %d is empty or too long", n + 1);
        memcpy(item, p, len);
        item[len] = 0;
        if (each(item, out, n)) return ecn_opt_fail(o, key, "item %d ('%s') is not a number", n + 1, item);
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    return n;
}

static int put_int(const char *s, void *out, int i)
{
    long v;
    if (parse_long(s, &v) || v < INT_MIN || v > INT_MAX) return -1;
    ((int *)out)[i] = (int)v;
    return 0;
}

static int put_float(const char *s, void *out, int i) { return parse_float(s, (float *)out + i); }

int ecn_opt_ints(ecn_opts *o, const char *key, int *out, int max)
{
    return split_list(o, key, max, put_int, out);
}

int ecn_opt_floats(ecn_opts *o, const char *key, float *out, int max)
{
    return split_list(o, key, max, put_float, out);
}
