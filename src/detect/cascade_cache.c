/* cascade_cache.c - a detector's results over a list, saved and read back
 * (the file format and the key are in cascade.h).
 *
 * The key hashes everything the results depend on, so a stale file is never
 * used: changing the cfg, the weights, an image (its size or time stamp) or
 * a run option gives another key, and the file is simply recomputed.  A
 * file is written to PATH.tmp and renamed: a crash never leaves half a file
 * under the real name.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cascade.h"
#include "core/error.h"

static const char magic[8] = {'E', 'C', 'N', 'C', 'A', 'S', 'C', '1'};

/* ---- the key: FNV-1a, 64 bits ---------------------------------------------- */

static void fnv(unsigned long long *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 0x100000001b3ULL;
}

static void fnv_text(unsigned long long *h, const char *s)
{
    fnv(h, s, strlen(s) + 1); /* the terminator separates fields */
}

static int fnv_file(unsigned long long *h, const char *path, ecn_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ecn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fnv(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? ecn_fail(err, "%s: cannot read", path) : 0;
}

/* An image's path, size and modification time. */
static int fnv_stat(unsigned long long *h, const char *path, ecn_err *err)
{
    struct stat st;
    if (stat(path, &st)) return ecn_fail(err, "%s: %s", path, strerror(errno));
    long long v[3] = {(long long)st.st_size, (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec};
    fnv_text(h, path);
    fnv(h, v, sizeof v);
    return 0;
}

int ecn_cascade_key(const char *cfg, const char *weights, const ecn_dataset *ds, int images,
                    const ecn_map_run_opts *o, unsigned long long *key, ecn_err *err)
{
    unsigned long long h = 0xcbf29ce484222325ULL;
    fnv_text(&h, "ecnet cascade results 1");
    if (fnv_file(&h, cfg, err)) return -1;
    if (!weights) fnv_text(&h, "no weights");
    else if (strncmp(weights, "random:", 7) == 0) fnv_text(&h, weights);
    else if (fnv_file(&h, weights, err)) return -1;
    if (!ds->paths) return ecn_fail(err, "cascade: the data set has no image files");
    for (int i = 0; i < images && i < ds->n; i++)
        if (fnv_stat(&h, ds->paths[i], err)) return -1;
    float opts[2] = {o->thresh, o->nms};
    int ints[2] = {images, o->resize};
    fnv(&h, opts, sizeof opts);
    fnv(&h, ints, sizeof ints);
    *key = h;
    return 0;
}

/* ---- the file ------------------------------------------------------------- */

typedef struct record {
    int32_t cls;
    float score, x, y, w, h;
} record;

static int write_image(FILE *f, const ecn_cascade_dets *d, int i, record *buf)
{
    int32_t n = d->first[i + 1] - d->first[i];
    for (int k = 0; k < n; k++) {
        const ecn_map_item *it = &d->det[d->first[i] + k];
        buf[k] = (record){it->cls, it->score, it->box.x, it->box.y, it->box.w, it->box.h};
    }
    return fwrite(&n, sizeof n, 1, f) == 1 && fwrite(buf, sizeof *buf, (size_t)n, f) == (size_t)n ? 0 : -1;
}

int ecn_cascade_cache_save(const char *path, unsigned long long key, const ecn_cascade_dets *d, ecn_err *err)
{
    int most = 1;
    for (int i = 0; i < d->images; i++)
        if (d->first[i + 1] - d->first[i] > most) most = d->first[i + 1] - d->first[i];
    record *buf = ecn_calloc((size_t)most, sizeof *buf, err);
    if (!buf) return -1;
    size_t len = strlen(path) + 5;
    char *tmp = ecn_calloc(len, 1, err);
    FILE *f = tmp ? (snprintf(tmp, len, "%s.tmp", path), fopen(tmp, "wb")) : NULL;
    int32_t images = d->images;
    int rc = f && fwrite(magic, sizeof magic, 1, f) == 1 && fwrite(&key, sizeof key, 1, f) == 1 &&
                     fwrite(&images, sizeof images, 1, f) == 1
                 ? 0
                 : -1;
    for (int i = 0; !rc && i < d->images; i++) rc = write_image(f, d, i, buf);
    if (f && fclose(f)) rc = -1;
    if (!rc && rename(tmp, path)) rc = -1;
    if (rc && tmp) {
        ecn_fail(err, "%s: cannot write the cache: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    free(buf);
    return rc;
}

/* Append image i's n records from f to *d (det grown as needed). */
static int read_image(FILE *f, ecn_cascade_dets *d, int i, int *cap, ecn_err *err)
{
    int32_t n;
    if (fread(&n, sizeof n, 1, f) != 1 || n < 0 || n > (1 << 24)) return ecn_fail(err, "truncated or broken");
    int at = d->first[i];
    if (at + n > *cap) {
        int nc = *cap;
        while (nc < at + n) nc = nc ? 2 * nc : 1024;
        ecn_map_item *p = realloc(d->det, (size_t)nc * sizeof *p);
        if (!p) return ecn_fail(err, "out of memory");
        d->det = p, *cap = nc;
    }
    for (int k = 0; k < n; k++) {
        record r;
        if (fread(&r, sizeof r, 1, f) != 1) return ecn_fail(err, "truncated");
        d->det[at + k] = (ecn_map_item){i, r.cls, r.score, {r.x, r.y, r.w, r.h}, 0};
    }
    d->first[i + 1] = at + n;
    return 0;
}

int ecn_cascade_cache_load(const char *path, unsigned long long key, ecn_cascade_dets *d, ecn_err *err)
{
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    char m[8];
    unsigned long long k;
    int32_t images;
    if (fread(m, sizeof m, 1, f) != 1 || memcmp(m, magic, sizeof m) || fread(&k, sizeof k, 1, f) != 1 || k != key ||
        fread(&images, sizeof images, 1, f) != 1 || images < 0) {
        fclose(f);
        return 1;
    }
    d->images = images;
    d->first = ecn_calloc((size_t)images + 1, sizeof *d->first, err);
    int cap = 0, rc = d->first ? 0 : -1;
    for (int i = 0; !rc && i < images; i++) rc = read_image(f, d, i, &cap, err);
    fclose(f);
    if (rc) {
        ecn_fail_prefix(err, "%s", path);
        ecn_cascade_dets_free(d);
    }
    return rc;
}
