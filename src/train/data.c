/* data.c - data sets (idx files, Darknet .data lists), batches, augmentation.
 * See data.h for the formats and the exact order of the random draws.
 */
#include "data.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "../core/error.h"
#include "../core/layer.h"

/* ---- small helpers ---------------------------------------------------- */

static char *dup_n(const char *s, size_t n, ecn_err *err)
{
    char *d = ecn_calloc(n + 1, 1, err);
    if (d) memcpy(d, s, n);
    return d;
}

static char *dup_str(const char *s, ecn_err *err) { return dup_n(s, strlen(s), err); }

/* Strip leading and trailing white space (\r included) in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Directory part of a path: "a/b/c.data" -> "a/b", "c.data" -> ".", "/c" -> "/". */
static char *dir_of(const char *path, ecn_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return dup_str(".", err);
    if (slash == path) return dup_str("/", err);
    return dup_n(path, (size_t)(slash - path), err);
}

static char *join_path(const char *dir, const char *rel, ecn_err *err)
{
    size_t a = strlen(dir), b = strlen(rel);
    char *p = ecn_calloc(a + b + 2, 1, err);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, rel, b);
    return p;
}

/* Look for `rel`: as given first (absolute, or relative to the current
 * directory, as Darknet does), then under each of the nb base directories.
 * *where: -1 found as given, k found under bases[k], -2 found nowhere (the
 * path is then returned as given).  NULL only when out of memory. */
static char *resolve(const char *rel, const char *const *bases, int nb, int *where, ecn_err *err)
{
    *where = -2;
    if (is_file(rel)) {
        *where = -1;
        return dup_str(rel, err);
    }
    if (rel[0] == '/') return dup_str(rel, err);
    for (int k = 0; k < nb; k++) {
        if (!bases[k]) continue;
        char *p = join_path(bases[k], rel, err);
        if (!p) return NULL;
        if (is_file(p)) {
            *where = k;
            return p;
        }
        free(p);
    }
    return dup_str(rel, err);
}

/* The non-empty lines of a text file, trimmed, with their line numbers. */
typedef struct lines {
    char **v;
    int *line;
    int n, cap;
} lines;

static void lines_free(lines *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    free(l->line);
    memset(l, 0, sizeof *l);
}

static int read_lines(const char *path, lines *out, ecn_err *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) return ecn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0;
    int lineno = 0;
    ssize_t len;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        if (memchr(buf, 0, (size_t)len)) {
            free(buf);
            fclose(f);
            lines_free(out);
            return ecn_fail(err, "%s:%d: a NUL byte: expected a text file", path, lineno);
        }
        char *s = trim(buf);
        if (!*s) continue;
        if (out->n == out->cap) {
            int nc = out->cap ? out->cap * 2 : 64;
            char **v = realloc(out->v, (size_t)nc * sizeof *v);
            if (v) out->v = v;
            int *ln = v ? realloc(out->line, (size_t)nc * sizeof *ln) : NULL;
            if (ln) out->line = ln;
            if (!v || !ln) {
                free(buf);
                fclose(f);
                lines_free(out);
                return ecn_fail(err, "%s: out of memory after %d lines", path, lineno);
            }
            out->cap = nc;
        }
        char *d = dup_str(s, err);
        if (!d) {
            free(buf);
            fclose(f);
            lines_free(out);
            return ecn_fail_prefix(err, "%s:%d", path, lineno);
        }
        out->v[out->n] = d;
        out->line[out->n++] = lineno;
    }
    int bad = ferror(f);
    free(buf);
    fclose(f);
    if (bad) {
        lines_free(out);
        return ecn_fail(err, "%s: read error after line %d", path, lineno);
    }
    return 0;
}

void ecn_dataset_free(ecn_dataset *ds)
{
    if (!ds) return;
    if (ds->paths)
        for (int i = 0; i < ds->n; i++) free(ds->paths[i]);
    if (ds->boxes)
        for (int i = 0; i < ds->n; i++) free(ds->boxes[i]);
    if (ds->names)
        for (int i = 0; i < ds->classes; i++) free(ds->names[i]);
    free(ds->paths);
    free(ds->boxes);
    free(ds->n_boxes);
    free(ds->names);
    free(ds->labels);
    free(ds->pixels);
    memset(ds, 0, sizeof *ds);
}

/* ---- idx files -------------------------------------------------------- */

static int gz_read_exact(gzFile f, const char *path, void *buf, size_t n, const char *what,
                         ecn_err *err)
{
    size_t got = 0;
    while (got < n) {
        size_t left = n - got;
        unsigned chunk = left > (1u << 30) ? (1u << 30) : (unsigned)left;
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0) {
            int code;
            const char *m = gzerror(f, &code);
            return ecn_fail(err, "%s: %s while reading %s: expected %zu bytes, read %zu "
                            "(truncated or corrupt file)", path, m, what, n, got);
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got < n)
        return ecn_fail(err, "%s: truncated: expected %zu bytes of %s, found %zu", path, n, what,
                        got);
    return 0;
}

static int gz_expect_end(gzFile f, const char *path, size_t expected, ecn_err *err)
{
    char extra;
    int r = gzread(f, &extra, 1);
    if (r < 0) {
        int code;
        const char *m = gzerror(f, &code);
        return ecn_fail(err, "%s: %s after the data (corrupt file)", path, m);
    }
    if (r > 0)
        return ecn_fail(err, "%s: longer than its header says: expected %zu bytes in all", path,
                        expected);
    return 0;
}

static unsigned be32(const unsigned char *p)
{
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | (unsigned)p[3];
}

/* Open an idx file and read its header: magic, then `dims` big-endian counts. */
static gzFile idx_open(const char *path, unsigned magic, int dims, unsigned *dim, ecn_err *err)
{
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        ecn_fail(err, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    gzbuffer(f, 1u << 17);
    unsigned char h[16];
    const char *what = magic == 0x803 ? "idx image header (magic, count, rows, columns)"
                                      : "idx label header (magic, count)";
    if (gz_read_exact(f, path, h, 4, what, err)) {
        gzclose(f);
        return NULL;
    }
    unsigned m = be32(h);
    if (m != magic) {
        ecn_fail(err, "%s: magic 0x%08x: expected 0x%08x (an idx %s file)", path, m, magic,
                 magic == 0x803 ? "image (unsigned bytes, 3 dimensions)"
                                : "label (unsigned bytes, 1 dimension)");
        gzclose(f);
        return NULL;
    }
    if (gz_read_exact(f, path, h + 4, 4 * (size_t)dims, what, err)) {
        gzclose(f);
        return NULL;
    }
    for (int k = 0; k < dims; k++) {
        dim[k] = be32(h + 4 + 4 * k);
        if (dim[k] == 0 || dim[k] > INT_MAX) {
            ecn_fail(err, "%s: dimension %d is %u: expected 1 to %d", path, k, dim[k], INT_MAX);
            gzclose(f);
            return NULL;
        }
    }
    return f;
}

int ecn_dataset_open_idx(const char *images_path, const char *labels_path, int classes,
                         ecn_dataset *ds, ecn_err *err)
{
    memset(ds, 0, sizeof *ds);
    if (classes < 0) return ecn_fail(err, "idx data set: %d classes: expected 0 or more", classes);
    unsigned di[3], dl[1];
    gzFile f = idx_open(images_path, 0x803, 3, di, err);
    if (!f) return -1;
    size_t plane = (size_t)di[1] * di[2];
    if (plane > (size_t)INT_MAX || (size_t)di[0] > ((size_t)-1 >> 1) / plane) {
        gzclose(f);
        return ecn_fail(err, "%s: %u images of %u x %u: too large", images_path, di[0], di[1],
                        di[2]);
    }
    size_t bytes = plane * di[0];
    unsigned char *pix = ecn_calloc(bytes, 1, err);
    if (!pix) {
        gzclose(f);
        return ecn_fail_prefix(err, "%s", images_path);
    }
    char what[96];
    snprintf(what, sizeof what, "pixels (%u images of %u x %u)", di[0], di[1], di[2]);
    if (gz_read_exact(f, images_path, pix, bytes, what, err) ||
        gz_expect_end(f, images_path, 16 + bytes, err)) {
        gzclose(f);
        free(pix);
        return -1;
    }
    gzclose(f);

    f = idx_open(labels_path, 0x801, 1, dl, err);
    if (!f) {
        free(pix);
        return -1;
    }
    if (dl[0] != di[0]) {
        gzclose(f);
        free(pix);
        return ecn_fail(err, "%s: %u labels, but %s has %u images: expected the same count",
                        labels_path, dl[0], images_path, di[0]);
    }
    int n = (int)di[0];
    unsigned char *lab = ecn_calloc((size_t)n, 1, err);
    int *labels = lab ? ecn_calloc((size_t)n, sizeof *labels, err) : NULL;
    if (!labels) {
        gzclose(f);
        free(pix);
        free(lab);
        return ecn_fail_prefix(err, "%s", labels_path);
    }
    snprintf(what, sizeof what, "labels (%d of them)", n);
    if (gz_read_exact(f, labels_path, lab, (size_t)n, what, err) ||
        gz_expect_end(f, labels_path, 8 + (size_t)n, err)) {
        gzclose(f);
        free(pix);
        free(lab);
        free(labels);
        return -1;
    }
    gzclose(f);
    int maxl = 0;
    for (int i = 0; i < n; i++) {
        labels[i] = lab[i];
        if (lab[i] > maxl) maxl = lab[i];
        if (classes > 0 && lab[i] >= classes) {
            int bad = lab[i];
            free(pix);
            free(lab);
            free(labels);
            return ecn_fail(err, "%s: label %d of example %d: expected 0 to %d (%d classes)",
                            labels_path, bad, i, classes - 1, classes);
        }
    }
    free(lab);
    ds->n = n;
    ds->classes = classes > 0 ? classes : maxl + 1;
    ds->shape = (ecn_shape){1, (int)di[1], (int)di[2]};
    ds->pixels = pix;
    ds->labels = labels;
    return 0;
}

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat", "Sandal", "Shirt", "Sneaker",
                                              "Bag", "Ankle boot"};

/* dir/name.gz when it is there, else dir/name when that is, else dir/name.gz. */
static char *idx_file(const char *dir, const char *name, ecn_err *err)
{
    char gz[256];
    snprintf(gz, sizeof gz, "%s.gz", name);
    char *p = join_path(dir, gz, err);
    if (!p || is_file(p)) return p;
    char *q = join_path(dir, name, err);
    if (q && is_file(q)) {
        free(p);
        return q;
    }
    free(q);
    return p;
}

static int open_fashion(int split, ecn_dataset *ds, ecn_err *err)
{
    const char *dir = getenv("ECNET_FASHION_DIR");
    if (!dir || !*dir) dir = "/usr/share/datasets/fashion-mnist";
    const char *pre = split ? "t10k" : "train";
    char name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", pre);
    char *img = idx_file(dir, name, err);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", pre);
    char *lab = img ? idx_file(dir, name, err) : NULL;
    int rc = lab ? ecn_dataset_open_idx(img, lab, 10, ds, err) : -1;
    free(img);
    free(lab);
    if (rc)
        return ecn_fail_prefix(err, "fashion-mnist (%s split, directory %s; ECNET_FASHION_DIR "
                               "sets another)", split ? "test" : "train", dir);
    ds->names = ecn_calloc(10, sizeof *ds->names, err);
    if (!ds->names) {
        ecn_dataset_free(ds);
        return -1;
    }
    for (int k = 0; k < 10; k++)
        if (!(ds->names[k] = dup_str(fashion_names[k], err))) {
            ecn_dataset_free(ds);
            return -1;
        }
    return 0;
}

/* ---- Darknet .data files ---------------------------------------------- */

typedef struct data_key {
    const char *key;
    char *val; /* first occurrence wins */
    int line;
} data_key;

enum { K_CLASSES, K_TRAIN, K_VALID, K_LABELS, K_NAMES, K_TYPE, K_COUNT };

/* The label file of an image path (see data.h). */
static char *label_path_of(const char *img, ecn_err *err)
{
    size_t n = strlen(img);
    char *p = ecn_calloc(n + 8, 1, err);
    if (!p) return NULL;
    memcpy(p, img, n);
    char *s = strstr(p, "images");
    if (s) memcpy(s, "labels", 6);
    s = strstr(p, "JPEGImages");
    if (s) {
        memcpy(s, "labels", 6);
        memmove(s + 6, s + 10, strlen(s + 10) + 1);
    }
    char *slash = strrchr(p, '/');
    char *base = slash ? slash + 1 : p;
    char *dot = strrchr(base, '.');
    if (dot && dot != base) *dot = 0;
    strcat(p, ".txt");
    return p;
}

/* Find an image's label file from where the image was found (where: as in
 * resolve); NULL path (and 0) when there is none. */
static int find_label_file(const char *img_rel, const char *const *bases, int nb, int where,
                           char **out, ecn_err *err)
{
    *out = NULL;
    char *rel = label_path_of(img_rel, err);
    if (!rel) return -1;
    char *p = NULL;
    if (where >= 0) {
        p = join_path(bases[where], rel, err);
        if (!p) goto oom;
    } else if (where == -1) {
        p = rel;
        rel = NULL;
    } else {
        int w;
        p = resolve(rel, bases, nb, &w, err);
        if (!p) goto oom;
        if (w == -2) {
            free(p);
            p = NULL;
        }
    }
    free(rel);
    if (p && !is_file(p)) {
        free(p);
        p = NULL;
    }
    *out = p;
    return 0;
oom:
    free(rel);
    return -1;
}

/* Read one Darknet label file: lines "class x y w h". */
static int read_boxes(const char *path, int classes, ecn_box_label **out, int *count, ecn_err *err)
{
    *out = NULL;
    *count = 0;
    FILE *f = fopen(path, "r");
    if (!f) return ecn_fail(err, "%s: cannot open label file: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0;
    int lineno = 0, n = 0, boxcap = 0;
    ecn_box_label *b = NULL;
    ssize_t len;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        char *s = trim(buf);
        if (!*s) continue;
        char *e;
        errno = 0;
        long cls = strtol(s, &e, 10);
        int ok = e != s && isspace((unsigned char)*e) && errno == 0;
        float v[4];
        for (int k = 0; ok && k < 4; k++) {
            char *q = e;
            v[k] = strtof(q, &e);
            ok = e != q && (!*e || isspace((unsigned char)*e)) && isfinite(v[k]);
        }
        if (ok) ok = !*trim(e);
        if (!ok) {
            ecn_fail(err, "%s:%d: '%.200s': expected 'class x y w h' (an integer class, then "
                     "four numbers: relative centre and size)", path, lineno, s);
            goto fail;
        }
        if (cls < 0 || cls >= classes) {
            ecn_fail(err, "%s:%d: class %ld: expected 0 to %d (%d classes)", path, lineno, cls,
                     classes - 1, classes);
            goto fail;
        }
        if (v[2] < 0 || v[3] < 0) {
            ecn_fail(err, "%s:%d: box size %g x %g: expected sizes of 0 or more", path, lineno,
                     v[2], v[3]);
            goto fail;
        }
        if (n == boxcap) {
            boxcap = boxcap ? boxcap * 2 : 8;
            ecn_box_label *nb = realloc(b, (size_t)boxcap * sizeof *nb);
            if (!nb) {
                ecn_fail(err, "%s:%d: out of memory", path, lineno);
                goto fail;
            }
            b = nb;
        }
        b[n++] = (ecn_box_label){(int)cls, v[0], v[1], v[2], v[3]};
    }
    if (ferror(f)) {
        ecn_fail(err, "%s: read error after line %d", path, lineno);
        goto fail;
    }
    free(buf);
    fclose(f);
    *out = b;
    *count = n;
    return 0;
fail:
    free(buf);
    free(b);
    fclose(f);
    return -1;
}

/* Darknet's classification rule: the class name found in the path (the
 * longest when several are, then the first). */
static int label_of_path(const char *path, char *const *names, int classes)
{
    int best = -1;
    size_t best_len = 0;
    for (int k = 0; k < classes; k++) {
        size_t len = strlen(names[k]);
        if (len > best_len && strstr(path, names[k])) {
            best = k;
            best_len = len;
        }
    }
    return best;
}

static int open_data_file(const char *spec, int split, ecn_dataset *ds, ecn_err *err)
{
    data_key keys[K_COUNT] = {{"classes", NULL, 0}, {"train", NULL, 0}, {"valid", NULL, 0},
                              {"labels", NULL, 0},  {"names", NULL, 0}, {"type", NULL, 0}};
    lines cfg = {0}, names = {0}, list = {0};
    char *data_dir = NULL, *list_path = NULL, *list_dir = NULL, *names_path = NULL;
    int *where = NULL;
    int rc = -1;

    if (!is_file(spec)) {
        ecn_fail(err, "%s: no such file: expected \"fashion-mnist\" or a Darknet .data file", spec);
        goto done;
    }
    if (read_lines(spec, &cfg, err)) goto done;
    for (int i = 0; i < cfg.n; i++) {
        char *s = cfg.v[i];
        if (s[0] == '#' || s[0] == ';') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            ecn_fail(err, "%s:%d: '%.200s': expected key=value", spec, cfg.line[i], s);
            goto done;
        }
        *eq = 0;
        char *k = trim(s), *v = trim(eq + 1);
        if (!*k) {
            ecn_fail(err, "%s:%d: a value with no key: expected key=value", spec, cfg.line[i]);
            goto done;
        }
        for (int j = 0; j < K_COUNT; j++)
            if (!keys[j].val && strcmp(k, keys[j].key) == 0) {
                keys[j].val = v;
                keys[j].line = cfg.line[i];
            }
    }
    if (!(data_dir = dir_of(spec, err))) goto done;
    const char *dbase[1] = {data_dir};

    int classes = 0;
    if (keys[K_CLASSES].val) {
        char *e;
        errno = 0;
        long c = strtol(keys[K_CLASSES].val, &e, 10);
        if (e == keys[K_CLASSES].val || *e || errno || c <= 0 || c > 1000000) {
            ecn_fail(err, "%s:%d: classes = '%.100s': expected a positive integer", spec,
                     keys[K_CLASSES].line, keys[K_CLASSES].val);
            goto done;
        }
        classes = (int)c;
    }

    /* Kind of set. */
    int kind = -1; /* 0 classification, 1 detection, -1 decide from label files */
    if (keys[K_TYPE].val) {
        if (strcmp(keys[K_TYPE].val, "classification") == 0) kind = 0;
        else if (strcmp(keys[K_TYPE].val, "detection") == 0) kind = 1;
        else {
            ecn_fail(err, "%s:%d: type = '%.100s': expected classification or detection", spec,
                     keys[K_TYPE].line, keys[K_TYPE].val);
            goto done;
        }
    } else if (keys[K_LABELS].val) {
        kind = 0;
    }

    /* Class names: labels= for classification, names= otherwise. */
    const data_key *nk = (kind != 1 && keys[K_LABELS].val) ? &keys[K_LABELS]
                         : keys[K_NAMES].val                ? &keys[K_NAMES]
                         : keys[K_LABELS].val               ? &keys[K_LABELS]
                                                            : NULL;
    if (nk) {
        int w;
        if (!(names_path = resolve(nk->val, dbase, 1, &w, err))) goto done;
        if (w == -2) {
            ecn_fail(err, "%s:%d: %s = %s: file not found (looked in the current directory and "
                     "in %s)", spec, nk->line, nk->key, nk->val, data_dir);
            goto done;
        }
        if (read_lines(names_path, &names, err)) goto done;
        if (names.n == 0) {
            ecn_fail(err, "%s: no class names: expected one a line (%s = in %s:%d)", names_path,
                     nk->key, spec, nk->line);
            goto done;
        }
        if (classes && names.n != classes) {
            ecn_fail(err, "%s: %d class names, but %s:%d says classes = %d: expected as many "
                     "names as classes", names_path, names.n, spec, keys[K_CLASSES].line, classes);
            goto done;
        }
        classes = names.n;
    }
    if (!classes) {
        ecn_fail(err, "%s: no classes, labels or names key: expected the number of classes",
                 spec);
        goto done;
    }

    /* The list of images. */
    const data_key *lk = &keys[split ? K_VALID : K_TRAIN];
    if (!lk->val) {
        ecn_fail(err, "%s: no %s key: expected %s = a file listing the %s images", spec, lk->key,
                 lk->key, split ? "validation" : "training");
        goto done;
    }
    int lw;
    if (!(list_path = resolve(lk->val, dbase, 1, &lw, err))) goto done;
    if (lw == -2) {
        ecn_fail(err, "%s:%d: %s = %s: file not found (looked in the current directory and in "
                 "%s)", spec, lk->line, lk->key, lk->val, data_dir);
        goto done;
    }
    if (read_lines(list_path, &list, err)) goto done;
    if (list.n == 0) {
        ecn_fail(err, "%s: no image paths: expected one a line", list_path);
        goto done;
    }
    if (!(list_dir = dir_of(list_path, err))) goto done;
    const char *ibase[2] = {data_dir, strcmp(list_dir, data_dir) ? list_dir : NULL};

    ds->n = list.n;
    ds->classes = classes;
    ds->paths = ecn_calloc((size_t)list.n, sizeof *ds->paths, err);
    ds->labels = ds->paths ? ecn_calloc((size_t)list.n, sizeof *ds->labels, err) : NULL;
    where = ds->labels ? ecn_calloc((size_t)list.n, sizeof *where, err) : NULL;
    if (!where) goto done;
    for (int i = 0; i < list.n; i++) {
        ds->labels[i] = -1;
        if (!(ds->paths[i] = resolve(list.v[i], ibase, 2, &where[i], err))) goto done;
    }
    if (names.n) {
        ds->names = ecn_calloc((size_t)classes, sizeof *ds->names, err);
        if (!ds->names) goto done;
        for (int k = 0; k < classes; k++) {
            ds->names[k] = names.v[k];
            names.v[k] = NULL;
        }
    }

    if (kind == -1) { /* detection when any image has a label file */
        kind = 0;
        for (int i = 0; i < list.n && kind == 0; i++) {
            char *lp;
            if (find_label_file(list.v[i], ibase, 2, where[i], &lp, err)) goto done;
            if (lp) kind = 1;
            free(lp);
        }
    }

    if (kind == 1) {
        ds->boxes = ecn_calloc((size_t)list.n, sizeof *ds->boxes, err);
        ds->n_boxes = ds->boxes ? ecn_calloc((size_t)list.n, sizeof *ds->n_boxes, err) : NULL;
        if (!ds->n_boxes) goto done;
        for (int i = 0; i < list.n; i++) {
            char *lp;
            if (find_label_file(list.v[i], ibase, 2, where[i], &lp, err)) goto done;
            if (!lp) continue; /* no label file: an empty frame */
            int r = read_boxes(lp, classes, &ds->boxes[i], &ds->n_boxes[i], err);
            free(lp);
            if (r) {
                ecn_fail_prefix(err, "image %s (%s:%d)", list.v[i], list_path, list.line[i]);
                goto done;
            }
        }
    } else {
        if (!ds->names) {
            ecn_fail(err, "%s: a classification set needs class names (labels = or names =) to "
                     "label its images", spec);
            goto done;
        }
        for (int i = 0; i < list.n; i++) {
            ds->labels[i] = label_of_path(list.v[i], ds->names, classes);
            if (ds->labels[i] < 0) {
                ecn_fail(err, "%s:%d: '%.300s' contains none of the %d class names of %s: "
                         "expected one (Darknet labels an image by the class name in its path)%s",
                         list_path, list.line[i], list.v[i], classes, names_path,
                         keys[K_TYPE].val || keys[K_LABELS].val
                             ? ""
                             : "; no label .txt file was found either, so this was read as a "
                               "classification list (type = detection in the .data file says "
                               "otherwise)");
                goto done;
            }
        }
    }
    rc = 0;
done:
    if (rc) ecn_dataset_free(ds);
    lines_free(&cfg);
    lines_free(&names);
    lines_free(&list);
    free(data_dir);
    free(list_path);
    free(list_dir);
    free(names_path);
    free(where);
    return rc;
}

int ecn_dataset_open(const char *spec, int split, ecn_dataset *ds, ecn_err *err)
{
    memset(ds, 0, sizeof *ds);
    if (!spec || !*spec)
        return ecn_fail(err, "empty data set name: expected \"fashion-mnist\" or a .data file");
    if (split != 0 && split != 1)
        return ecn_fail(err, "%s: split %d: expected 0 (train) or 1 (valid/test)", spec, split);
    if (strcmp(spec, "fashion-mnist") == 0) return open_fashion(split, ds, err);
    return open_data_file(spec, split, ds, err);
}

/* ---- batches ---------------------------------------------------------- */

void ecn_shuffle(int *idx, int n, unsigned long long *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(ecn_rng_next(rng) % (unsigned long long)(i + 1));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* One plane of the output: out(y, x) = src(y + y0, (flip ? w-1-x : x) + x0),
 * zero outside the source (w x h, the output's size).  Two copies: bytes
 * through the lookup table, and floats. */
static void put_plane_u8(const unsigned char *src, const float *lut, int w, int h, int x0, int y0,
                         int flip, float *dst)
{
    for (int y = 0; y < h; y++, dst += w) {
        int sy = y + y0;
        if (sy < 0 || sy >= h) {
            memset(dst, 0, (size_t)w * sizeof *dst);
            continue;
        }
        const unsigned char *row = src + (size_t)sy * w;
        if (!flip && x0 == 0) {
            for (int x = 0; x < w; x++) dst[x] = lut[row[x]];
            continue;
        }
        for (int x = 0; x < w; x++) {
            int sx = (flip ? w - 1 - x : x) + x0;
            dst[x] = (sx >= 0 && sx < w) ? lut[row[sx]] : 0.f;
        }
    }
}

static void put_plane_f(const float *src, int w, int h, int x0, int y0, int flip, float *dst)
{
    for (int y = 0; y < h; y++, dst += w) {
        int sy = y + y0;
        if (sy < 0 || sy >= h) {
            memset(dst, 0, (size_t)w * sizeof *dst);
            continue;
        }
        const float *row = src + (size_t)sy * w;
        if (!flip && x0 == 0) {
            memcpy(dst, row, (size_t)w * sizeof *dst);
            continue;
        }
        for (int x = 0; x < w; x++) {
            int sx = (flip ? w - 1 - x : x) + x0;
            dst[x] = (sx >= 0 && sx < w) ? row[sx] : 0.f;
        }
    }
}

/* Where the geometric steps moved things, for the boxes:
 * jitter crop (pixels of the loaded image), then crop window, then flip. */
typedef struct geom {
    int jitter;
    int ow, oh, pl, pt, sw, sh; /* jitter: source size, left/top cut, cropped size */
    int x0, y0, w, h;           /* crop window start, output size */
    int flip;
} geom;

/* Crop im to (pl, pt, sw, sh), repeating edge pixels outside (Darknet's crop_image). */
static int jitter_crop(const ecn_image *im, const geom *g, ecn_image *out, ecn_err *err)
{
    out->data = ecn_calloc((size_t)g->sw * g->sh * im->c, sizeof *out->data, err);
    if (!out->data) return -1;
    out->w = g->sw, out->h = g->sh, out->c = im->c;
    for (int k = 0; k < im->c; k++)
        for (int y = 0; y < g->sh; y++) {
            int sy = y + g->pt;
            sy = sy < 0 ? 0 : sy >= im->h ? im->h - 1 : sy;
            const float *row = im->data + ((size_t)k * im->h + sy) * im->w;
            float *dst = out->data + ((size_t)k * g->sh + y) * g->sw;
            for (int x = 0; x < g->sw; x++) {
                int sx = x + g->pl;
                sx = sx < 0 ? 0 : sx >= im->w ? im->w - 1 : sx;
                dst[x] = row[sx];
            }
        }
    return 0;
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* Move, clamp and write the boxes of one example; returns how many were written. */
static int write_boxes(const ecn_box_label *b, int n, const geom *g, float *truth, int max)
{
    int written = 0;
    for (int k = 0; k < n && written < max; k++) {
        float l = b[k].x - b[k].w / 2, r = b[k].x + b[k].w / 2;
        float t = b[k].y - b[k].h / 2, bo = b[k].y + b[k].h / 2;
        if (g->jitter) {
            l = (l * g->ow - g->pl) / g->sw;
            r = (r * g->ow - g->pl) / g->sw;
            t = (t * g->oh - g->pt) / g->sh;
            bo = (bo * g->oh - g->pt) / g->sh;
        }
        l -= (float)g->x0 / g->w;
        r -= (float)g->x0 / g->w;
        t -= (float)g->y0 / g->h;
        bo -= (float)g->y0 / g->h;
        if (g->flip) {
            float s = l;
            l = 1 - r;
            r = 1 - s;
        }
        l = clamp01(l), r = clamp01(r), t = clamp01(t), bo = clamp01(bo);
        float w = r - l, h = bo - t;
        if (w < .001f || h < .001f) continue; /* left the frame, or too small */
        float *o = truth + 5 * written++;
        o[0] = (l + r) / 2;
        o[1] = (t + bo) / 2;
        o[2] = w;
        o[3] = h;
        o[4] = (float)b[k].cls;
    }
    return written;
}

/* RGB <-> HSV, all in [0, 1] (h a share of the circle). */
static void rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v)
{
    float mx = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b)), d = mx - mn;
    *v = mx;
    *s = mx > 0 ? d / mx : 0;
    if (d <= 0) {
        *h = 0;
        return;
    }
    float hh = r == mx ? (g - b) / d : g == mx ? 2 + (b - r) / d : 4 + (r - g) / d;
    hh /= 6;
    *h = hh < 0 ? hh + 1 : hh;
}

static void hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b)
{
    float hh = h * 6;
    int sector = (int)floorf(hh);
    float f = hh - sector, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    switch (((sector % 6) + 6) % 6) {
    case 0: *r = v, *g = t, *b = p; break;
    case 1: *r = q, *g = v, *b = p; break;
    case 2: *r = p, *g = v, *b = t; break;
    case 3: *r = p, *g = q, *b = v; break;
    case 4: *r = t, *g = p, *b = v; break;
    default: *r = v, *g = p, *b = q; break;
    }
}

/* A factor log-uniform in [1/m, m] from u in [0, 1); m of 0 means 1. */
static float log_uniform(float m, float u) { return m > 0 ? powf(m, 2 * u - 1) : 1; }

/* The colour change of an RGB image (CHW, plane floats per channel). */
static void distort_colour(float *x, size_t plane, const ecn_augment *aug, unsigned long long *rng)
{
    float dh = (2 * ecn_rng_uniform(rng) - 1) * aug->hue;
    float fs = log_uniform(aug->saturation, ecn_rng_uniform(rng));
    float fv = log_uniform(aug->exposure, ecn_rng_uniform(rng));
    float *r = x, *g = x + plane, *b = x + 2 * plane;
    for (size_t k = 0; k < plane; k++) {
        float h, s, v;
        rgb_to_hsv(r[k], g[k], b[k], &h, &s, &v);
        h += dh;
        h -= floorf(h);
        s = clamp01(s * fs);
        v = clamp01(v * fv);
        hsv_to_rgb(h, s, v, &r[k], &g[k], &b[k]);
    }
}

static int colour_on(const ecn_augment *aug)
{
    return aug && (aug->hue != 0 || (aug->saturation != 0 && aug->saturation != 1) ||
                   (aug->exposure != 0 && aug->exposure != 1));
}

static int fill_one(const ecn_dataset *ds, int i, ecn_shape in, const ecn_augment *aug,
                    unsigned long long *rng, const float *lut, float *x, float *truth,
                    int truth_floats, ecn_err *err)
{
    const int det = ds->boxes != NULL;
    const size_t plane = (size_t)in.w * in.h;
    geom g = {0};
    g.w = in.w, g.h = in.h;
    ecn_image im = {0};

    int fast = ds->pixels && ds->shape.w == in.w && ds->shape.h == in.h &&
               !(det && aug && aug->jitter > 0);
    if (!fast) {
        if (ds->pixels) {
            size_t n = ecn_shape_size(ds->shape);
            im.data = ecn_calloc(n, sizeof *im.data, err);
            if (!im.data) return -1;
            im.w = ds->shape.w, im.h = ds->shape.h, im.c = ds->shape.c;
            const unsigned char *src = ds->pixels + (size_t)i * n;
            for (size_t k = 0; k < n; k++) im.data[k] = lut[src[k]];
        } else if (ecn_image_load(ds->paths[i], in.c, &im, err)) {
            return -1;
        }
        if (det && aug && aug->jitter > 0) {
            g.jitter = 1;
            g.ow = im.w, g.oh = im.h;
            int dw = (int)(aug->jitter * im.w), dh = (int)(aug->jitter * im.h);
            int pl = (int)(ecn_rng_uniform(rng) * 2 * dw - dw);
            int pr = (int)(ecn_rng_uniform(rng) * 2 * dw - dw);
            int pt = (int)(ecn_rng_uniform(rng) * 2 * dh - dh);
            int pb = (int)(ecn_rng_uniform(rng) * 2 * dh - dh);
            g.pl = pl, g.pt = pt;
            g.sw = im.w - pl - pr, g.sh = im.h - pt - pb; /* >= 1 since jitter < 0.5 */
            ecn_image cropped;
            int r = jitter_crop(&im, &g, &cropped, err);
            ecn_image_free(&im);
            if (r) return -1;
            im = cropped;
        }
        if (im.w != in.w || im.h != in.h) {
            ecn_image sized;
            int r = ecn_image_resize(&im, in.w, in.h, &sized, err);
            ecn_image_free(&im);
            if (r) return -1;
            im = sized;
        }
    }

    if (aug && aug->crop_pad > 0) {
        unsigned long long span = 2ull * (unsigned)aug->crop_pad + 1;
        g.x0 = (int)(ecn_rng_next(rng) % span) - aug->crop_pad;
        g.y0 = (int)(ecn_rng_next(rng) % span) - aug->crop_pad;
    }
    if (aug && aug->flip) g.flip = (int)(ecn_rng_next(rng) >> 63);

    for (int k = 0; k < in.c; k++) {
        float *dst = x + (size_t)k * plane;
        if (fast) {
            int sk = ds->shape.c == 1 ? 0 : k;
            const unsigned char *src = ds->pixels + (size_t)i * ecn_shape_size(ds->shape) +
                                       (size_t)sk * plane;
            put_plane_u8(src, lut, in.w, in.h, g.x0, g.y0, g.flip, dst);
        } else {
            int sk = im.c == 1 ? 0 : k;
            put_plane_f(im.data + (size_t)sk * plane, in.w, in.h, g.x0, g.y0, g.flip, dst);
        }
    }
    ecn_image_free(&im);
    if (in.c == 3 && colour_on(aug)) distort_colour(x, plane, aug, rng);

    if (!truth) {
        /* the box order is still drawn, so rng advances the same with or without truth */
        if (det && aug)
            for (int k = ds->n_boxes[i] - 1; k > 0; k--) ecn_rng_next(rng);
        return 0;
    }
    memset(truth, 0, (size_t)truth_floats * sizeof *truth);
    if (!det) {
        truth[ds->labels[i]] = 1;
        return 0;
    }
    int nb = ds->n_boxes[i];
    if (nb == 0) return 0;
    const ecn_box_label *boxes = ds->boxes[i];
    ecn_box_label local[16], *copy = NULL;
    if (aug && nb > 1) {
        copy = nb <= 16 ? local : ecn_calloc((size_t)nb, sizeof *copy, err);
        if (!copy) return -1;
        memcpy(copy, boxes, (size_t)nb * sizeof *copy);
        for (int k = nb - 1; k > 0; k--) {
            int j = (int)(ecn_rng_next(rng) % (unsigned long long)(k + 1));
            ecn_box_label t = copy[k];
            copy[k] = copy[j];
            copy[j] = t;
        }
        boxes = copy;
    }
    write_boxes(boxes, nb, &g, truth, truth_floats / 5);
    if (copy != local) free(copy);
    return 0;
}

int ecn_dataset_batch(const ecn_dataset *ds, const int *indices, int count, ecn_shape in,
                      const ecn_augment *aug, unsigned long long *rng, float *x, float *truth,
                      int truth_floats, ecn_err *err)
{
    if (!ds || ds->n <= 0) return ecn_fail(err, "batch: empty data set");
    if (count < 0) return ecn_fail(err, "batch of %d examples: expected 0 or more", count);
    if (in.c <= 0 || in.h <= 0 || in.w <= 0)
        return ecn_fail(err, "batch: input %d x %d x %d: expected positive sizes", in.w, in.h,
                        in.c);
    if (!x) return ecn_fail(err, "batch: no image buffer");
    if (!ds->pixels && !ds->paths) return ecn_fail(err, "batch: the data set has no images");
    if (ds->pixels && ds->shape.c != in.c && ds->shape.c != 1)
        return ecn_fail(err, "batch: the data set's images have %d channels, the input %d: "
                        "expected the same (or 1, repeated)", ds->shape.c, in.c);
    if (!ds->pixels && in.c > 4)
        return ecn_fail(err, "batch: input of %d channels: image files give 1 to 4", in.c);
    const int det = ds->boxes != NULL;
    if (aug) {
        if (!rng) return ecn_fail(err, "batch: augmentation needs a random state");
        if (aug->crop_pad < 0 || aug->crop_pad > 1 << 20)
            return ecn_fail(err, "batch: crop_pad %d: expected 0 or more", aug->crop_pad);
        if (!(aug->jitter >= 0 && aug->jitter < .5f))
            return ecn_fail(err, "batch: jitter %g: expected 0 to below 0.5", aug->jitter);
        if (!(aug->hue >= 0 && aug->hue <= .5f) || !(aug->saturation == 0 || aug->saturation >= 1) ||
            !(aug->exposure == 0 || aug->exposure >= 1))
            return ecn_fail(err, "batch: hue %g, saturation %g, exposure %g: expected hue 0 to 0.5, the "
                            "others 0 or at least 1", aug->hue, aug->saturation, aug->exposure);
    }
    if (truth) {
        if (det && (truth_floats <= 0 || truth_floats % 5))
            return ecn_fail(err, "batch: %d truth floats per image: expected a positive multiple "
                            "of 5 (x, y, w, h, class per box)", truth_floats);
        if (!det && truth_floats < ds->classes)
            return ecn_fail(err, "batch: %d truth floats per image: expected at least %d (one "
                            "per class)", truth_floats, ds->classes);
        if (!det && !ds->labels) return ecn_fail(err, "batch: the data set has no labels");
    }
    for (int k = 0; k < count; k++) {
        int i = indices ? indices[k] : k;
        if (i < 0 || i >= ds->n)
            return ecn_fail(err, "batch: index %d (position %d): expected 0 to %d", i, k,
                            ds->n - 1);
        if (truth && !det && (ds->labels[i] < 0 || ds->labels[i] >= ds->classes))
            return ecn_fail(err, "batch: example %d has label %d: expected 0 to %d", i,
                            ds->labels[i], ds->classes - 1);
    }

    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = (float)(v / 255.); /* as ecn_image_load rounds */

    const size_t per = ecn_shape_size(in);
    for (int k = 0; k < count; k++) {
        int i = indices ? indices[k] : k;
        if (fill_one(ds, i, in, aug, rng, lut, x + (size_t)k * per,
                     truth ? truth + (size_t)k * truth_floats : NULL, truth_floats, err))
            return ecn_fail_prefix(err, "batch: example %d", i);
    }
    return 0;
}
