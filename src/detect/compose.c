/* compose.c - a detection data set from Fashion-MNIST items on backgrounds.
 *
 * Each frame (size x size, RGB) is drawn from its own random stream, seeded
 * from (seed, split, frame number):
 *
 *   1. Background: with probability 1/2 (when photographs were found) a crop
 *      of a photograph (a square of 30% to 100% of its shorter side, at a
 *      random place, maybe mirrored, brightness x0.7 to x1.3, one in four
 *      turned grey), scaled to the frame; otherwise one of four procedural
 *      kinds, equally likely: a linear gradient between two colours, smooth
 *      value noise, stripes (soft or hard, any direction), a checkerboard.
 *      Then sensor noise of a random amplitude (0 to 0.06) on every pixel.
 *   2. Count: 0 with probability empty_share, else 1 .. max_objects, uniform.
 *   3. Objects, one after another: a random item of the split; up to 30
 *      tries of a size (side log-uniform in [min_item, max_item], aspect
 *      0.8 to 1.25) and a position (wholly inside the frame).  The item is
 *      scaled (bilinear, supersampled when shrinking) and its intensity v
 *      gives both the alpha, a = min(1, 3 v), so the product's silhouette
 *      and not its black square lands on the background, and the colour,
 *      v x tint (grey, or a random colour half of the time).  A try is
 *      rejected when the item's box has IoU > 0.3 with an earlier one, or
 *      when it would leave an earlier item less than half of its own
 *      visible pixels.  An object with no accepted try is dropped.
 *   4. Labels: a pixel belongs to the topmost item whose alpha there is at
 *      least 0.3 (the owner map); an item's box is the tight box of the
 *      pixels it owns.  Darknet's format: class, centre x, y, width, height,
 *      relative to the frame.
 *
 * Photographs come from /usr/share/darknet/data/ *.jpg, names sorted, each
 * halved (2 x 2 means) until its shorter side is below 4 x size, so a crop
 * shrinks by less than 4 and at most 4 x 4 samples per pixel are averaged.
 */
#include "compose.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/layer.h"
#include "train/data.h"

#define ALPHA_GAIN 3.0f     /* alpha = min(1, gain x intensity) */
#define VISIBLE_ALPHA 0.3f  /* a pixel of an item counts from this alpha on */
#define MAX_IOU 0.3f        /* with any earlier box */
#define MIN_KEPT 0.5f       /* of an earlier item's visible pixels */
#define PLACE_TRIES 30
#define MIN_PIXELS 4        /* an item smaller than this is no object */

static const char *const class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

void ecn_compose_defaults(ecn_compose_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->train = 4000;
    o->test = 1000;
    o->size = 128;
    o->max_objects = 10;
    o->empty_share = .12f;
}

/* ---- random numbers ----------------------------------------------------- */

static float uniform(unsigned long long *rng) { return ecn_rng_uniform(rng); }
static float between(unsigned long long *rng, float a, float b) { return a + (b - a) * uniform(rng); }
static int below(unsigned long long *rng, int n) { return (int)(ecn_rng_next(rng) % (unsigned long long)n); }

/* The stream of frame `index` of `split`: two hashed words, mixed. */
static unsigned long long frame_rng(unsigned long long seed, int split, int index)
{
    unsigned long long a = seed, b = ((unsigned long long)(split + 1) << 40) ^ (unsigned long long)index;
    unsigned long long s = ecn_rng_next(&a);
    return s ^ ecn_rng_next(&b);
}

/* ---- sampling ------------------------------------------------------------- */

/* Bilinear value of plane p (w x h) at (fx, fy), pixel i's centre at i.
 * Outside the plane: zero (zero_outside) or the nearest edge pixel. */
static float bilinear(const float *p, int w, int h, float fx, float fy, int zero_outside)
{
    float fx0 = floorf(fx), fy0 = floorf(fy);
    int x0 = (int)fx0, y0 = (int)fy0;
    float dx = fx - fx0, dy = fy - fy0;
    float v[4];
    for (int k = 0; k < 4; k++) {
        int x = x0 + (k & 1), y = y0 + (k >> 1);
        if (x < 0 || y < 0 || x >= w || y >= h) {
            if (zero_outside) {
                v[k] = 0;
                continue;
            }
            x = x < 0 ? 0 : x >= w ? w - 1 : x;
            y = y < 0 ? 0 : y >= h ? h - 1 : y;
        }
        v[k] = p[(size_t)y * w + x];
    }
    float top = v[0] + dx * (v[1] - v[0]), bottom = v[2] + dx * (v[3] - v[2]);
    return top + dy * (bottom - top);
}

/* Mean of kx x ky bilinear samples over the source rectangle
 * [sx, sx + step_x) x [sy, sy + step_y) (pixel i spans [i, i+1)). */
static float footprint(const float *p, int w, int h, float sx, float sy, float step_x, float step_y,
                       int kx, int ky, int zero_outside)
{
    float sum = 0;
    for (int j = 0; j < ky; j++)
        for (int i = 0; i < kx; i++)
            sum += bilinear(p, w, h, sx + (i + .5f) * step_x / kx - .5f, sy + (j + .5f) * step_y / ky - .5f,
                            zero_outside);
    return sum / (float)(kx * ky);
}

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

void ecn_compose_scale_item(const float *src, int w_in, int h_in, int w, int h, int flip, float *out)
{
    float step_x = (float)w_in / w, step_y = (float)h_in / h;
    int kx = ceil_div(w_in, w), ky = ceil_div(h_in, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int sx = flip ? w - 1 - x : x;
            out[(size_t)y * w + x] = footprint(src, w_in, h_in, sx * step_x, y * step_y, step_x, step_y, kx, ky, 1);
        }
}

int ecn_compose_owned_box(const unsigned char *owner, int size, int id, int *x0, int *y0, int *x1, int *y1)
{
    int count = 0;
    *x0 = *y0 = size;
    *x1 = *y1 = -1;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            if (owner[(size_t)y * size + x] != id) continue;
            count++;
            if (x < *x0) *x0 = x;
            if (x > *x1) *x1 = x;
            if (y < *y0) *y0 = y;
            if (y > *y1) *y1 = y;
        }
    return count;
}

/* ---- photographs ---------------------------------------------------------- */

typedef struct photo_set {
    ecn_image *im;
    int n;
} photo_set;

static void photos_free(photo_set *ps)
{
    for (int i = 0; i < ps->n; i++) ecn_image_free(&ps->im[i]);
    free(ps->im);
    ps->im = NULL;
    ps->n = 0;
}

/* 2 x 2 means: w/2 x h/2. */
static int halve(ecn_image *im, ecn_err *err)
{
    int w = im->w / 2, h = im->h / 2;
    float *d = ecn_calloc((size_t)w * h * im->c, sizeof *d, err);
    if (!d) return -1;
    for (int k = 0; k < im->c; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const float *s = im->data + ((size_t)k * im->h + 2 * y) * im->w + 2 * x;
                d[((size_t)k * h + y) * w + x] = (s[0] + s[1] + s[im->w] + s[im->w + 1]) / 4;
            }
    free(im->data);
    im->data = d;
    im->w = w;
    im->h = h;
    return 0;
}

static int has_jpg_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".jpg") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted *.jpg names of dir (none when dir cannot be opened). */
static int list_jpgs(const char *dir, char ***names, int *n, ecn_err *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(d))) {
        if (!has_jpg_suffix(e->d_name)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **v = realloc(*names, (size_t)cap * sizeof *v);
            if (!v) break;
            *names = v;
        }
        if (!((*names)[*n] = strdup(e->d_name))) break;
        (*n)++;
    }
    int bad = e != NULL;
    closedir(d);
    if (bad) {
        for (int i = 0; i < *n; i++) free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
        return ecn_fail(err, "%s: out of memory listing photographs", dir);
    }
    if (*n) qsort(*names, (size_t)*n, sizeof **names, compare_names);
    return 0;
}

static int photos_load(const char *dir, int size, photo_set *ps, ecn_err *err)
{
    char **names;
    int n, rc = 0;
    ps->im = NULL;
    ps->n = 0;
    if (list_jpgs(dir, &names, &n, err)) return -1;
    if (n && !(ps->im = ecn_calloc((size_t)n, sizeof *ps->im, err))) rc = -1;
    for (int i = 0; i < n && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        ecn_image *im = &ps->im[ps->n];
        if (ecn_image_load(path, 3, im, err)) {
            rc = -1;
            break;
        }
        ps->n++;
        while (!rc && (im->w < im->h ? im->w : im->h) >= 4 * size) rc = halve(im, err);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (rc) photos_free(ps);
    return rc;
}

/* ---- backgrounds ---------------------------------------------------------- */

typedef struct frame {
    int size;
    float *px;             /* 3 planes of size x size */
    unsigned char *owner;  /* item id per pixel, 255: background */
} frame;

#define NO_OWNER 255

static void random_colour(unsigned long long *rng, float c[3])
{
    for (int k = 0; k < 3; k++) c[k] = uniform(rng);
}

static void put(frame *f, int x, int y, const float c0[3], const float c1[3], float t)
{
    size_t plane = (size_t)f->size * f->size, i = (size_t)y * f->size + x;
    for (int k = 0; k < 3; k++) f->px[k * plane + i] = c0[k] + t * (c1[k] - c0[k]);
}

/* A random direction (dx, dy), and the range of x dx + y dy over the frame. */
static void direction(unsigned long long *rng, int size, float *dx, float *dy, float *lo, float *hi)
{
    *dx = between(rng, -1, 1);
    *dy = between(rng, -1, 1);
    if (fabsf(*dx) + fabsf(*dy) < 1e-3f) *dx = 1;
    float s = (float)(size - 1), corners[4] = {0, s * *dx, s * *dy, s * (*dx + *dy)};
    *lo = *hi = 0;
    for (int k = 1; k < 4; k++) {
        if (corners[k] < *lo) *lo = corners[k];
        if (corners[k] > *hi) *hi = corners[k];
    }
}

static void bg_gradient(frame *f, unsigned long long *rng)
{
    float c0[3], c1[3], dx, dy, lo, hi;
    random_colour(rng, c0);
    random_colour(rng, c1);
    direction(rng, f->size, &dx, &dy, &lo, &hi);
    float span = hi - lo > 1e-6f ? hi - lo : 1;
    for (int y = 0; y < f->size; y++)
        for (int x = 0; x < f->size; x++) put(f, x, y, c0, c1, (x * dx + y * dy - lo) / span);
}

/* Value noise: random levels on a lattice of cell g, smoothstep between. */
static void bg_noise(frame *f, unsigned long long *rng)
{
    enum { MAX_CELLS = 17 };
    float c0[3], c1[3], level[MAX_CELLS * MAX_CELLS];
    random_colour(rng, c0);
    random_colour(rng, c1);
    int cells = 2 + below(rng, MAX_CELLS - 3); /* 2 .. 15 cells across */
    for (int i = 0; i < (cells + 1) * (cells + 1); i++) level[i] = uniform(rng);
    float g = (float)f->size / cells;
    for (int y = 0; y < f->size; y++)
        for (int x = 0; x < f->size; x++) {
            float u = x / g, v = y / g;
            int i = (int)u, j = (int)v;
            float a = u - i, b = v - j;
            a = a * a * (3 - 2 * a);
            b = b * b * (3 - 2 * b);
            const float *l = level + j * (cells + 1) + i;
            float top = l[0] + a * (l[1] - l[0]), bottom = l[cells + 1] + a * (l[cells + 2] - l[cells + 1]);
            put(f, x, y, c0, c1, top + b * (bottom - top));
        }
}

static void bg_stripes(frame *f, unsigned long long *rng)
{
    float c0[3], c1[3], dx, dy, lo, hi;
    random_colour(rng, c0);
    random_colour(rng, c1);
    direction(rng, f->size, &dx, &dy, &lo, &hi);
    float len = sqrtf(dx * dx + dy * dy), period = between(rng, 4, f->size / 4.f), phase = uniform(rng);
    int hard = below(rng, 2);
    for (int y = 0; y < f->size; y++)
        for (int x = 0; x < f->size; x++) {
            float s = (x * dx + y * dy) / len / period + phase;
            float t = fabsf(2 * (s - floorf(s)) - 1); /* triangle wave, 0..1 */
            put(f, x, y, c0, c1, hard ? (t > .5f) : t);
        }
}

static void bg_checker(frame *f, unsigned long long *rng)
{
    float c0[3], c1[3];
    random_colour(rng, c0);
    random_colour(rng, c1);
    int cell = 4 + below(rng, f->size / 4 - 3), ox = below(rng, cell), oy = below(rng, cell);
    for (int y = 0; y < f->size; y++)
        for (int x = 0; x < f->size; x++) put(f, x, y, c0, c1, (float)((((x + ox) / cell) + ((y + oy) / cell)) & 1));
}

static void bg_photo(frame *f, const photo_set *ps, unsigned long long *rng)
{
    const ecn_image *im = &ps->im[below(rng, ps->n)];
    int short_side = im->w < im->h ? im->w : im->h;
    float crop = between(rng, .3f, 1) * short_side;
    float x0 = uniform(rng) * (im->w - crop), y0 = uniform(rng) * (im->h - crop);
    int flip = below(rng, 2), grey = below(rng, 4) == 0;
    float gain = between(rng, .7f, 1.3f), step = crop / f->size;
    int k = (int)ceilf(step);
    size_t plane = (size_t)f->size * f->size, src_plane = (size_t)im->w * im->h;
    for (int y = 0; y < f->size; y++)
        for (int x = 0; x < f->size; x++) {
            float sx = x0 + (flip ? f->size - 1 - x : x) * step, sy = y0 + y * step, v[3];
            for (int c = 0; c < 3; c++)
                v[c] = gain * footprint(im->data + c * src_plane, im->w, im->h, sx, sy, step, step, k, k, 0);
            if (grey) v[0] = v[1] = v[2] = (v[0] + v[1] + v[2]) / 3;
            for (int c = 0; c < 3; c++) f->px[c * plane + (size_t)y * f->size + x] = v[c];
        }
}

/* Returns 1 when the background is a photograph. */
static int background(frame *f, const photo_set *ps, unsigned long long *rng)
{
    int photo = ps->n > 0 && below(rng, 2) == 0;
    if (photo) {
        bg_photo(f, ps, rng);
    } else {
        switch (below(rng, 4)) {
        case 0: bg_gradient(f, rng); break;
        case 1: bg_noise(f, rng); break;
        case 2: bg_stripes(f, rng); break;
        default: bg_checker(f, rng); break;
        }
    }
    float amp = between(rng, 0, .06f);
    size_t n = 3 * (size_t)f->size * f->size;
    for (size_t i = 0; i < n; i++) {
        float v = f->px[i] + amp * (uniform(rng) + uniform(rng) - 1);
        f->px[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    return photo;
}

/* ---- objects ---------------------------------------------------------------- */

typedef struct placed {
    int x, y, w, h;         /* the scaled item's square in the frame */
    int bx0, by0, bx1, by1; /* tight box of its own visible pixels */
    int pixels;             /* its own visible pixels */
    int owned;              /* of them, not covered by later items */
    int cls;
} placed;

typedef struct item_look {
    float src[28 * 28];
    float tint[3];
    int flip, cls;
} item_look;

static float alpha_of(float v)
{
    float a = ALPHA_GAIN * v;
    return a < 1 ? a : 1;
}

static float box_iou(const placed *a, const placed *b)
{
    int iw = (a->bx1 < b->bx1 ? a->bx1 : b->bx1) - (a->bx0 > b->bx0 ? a->bx0 : b->bx0) + 1;
    int ih = (a->by1 < b->by1 ? a->by1 : b->by1) - (a->by0 > b->by0 ? a->by0 : b->by0) + 1;
    if (iw <= 0 || ih <= 0) return 0;
    float inter = (float)iw * ih;
    float area_a = (float)(a->bx1 - a->bx0 + 1) * (a->by1 - a->by0 + 1);
    float area_b = (float)(b->bx1 - b->bx0 + 1) * (b->by1 - b->by0 + 1);
    return inter / (area_a + area_b - inter);
}

/* Own box and pixel count of a scaled item (patch) at its place. */
static void own_box(const float *patch, placed *p)
{
    p->pixels = 0;
    p->bx0 = p->by0 = 1 << 30;
    p->bx1 = p->by1 = -1;
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++) {
            if (alpha_of(patch[y * p->w + x]) < VISIBLE_ALPHA) continue;
            p->pixels++;
            if (p->x + x < p->bx0) p->bx0 = p->x + x;
            if (p->x + x > p->bx1) p->bx1 = p->x + x;
            if (p->y + y < p->by0) p->by0 = p->y + y;
            if (p->y + y > p->by1) p->by1 = p->y + y;
        }
}

/* 1 when the candidate keeps every earlier item's box and visibility rules. */
static int fits(const frame *f, const float *patch, const placed *cand, const placed *objs, int n)
{
    int covered[ECN_COMPOSE_MAX_OBJECTS] = {0};
    for (int j = 0; j < n; j++)
        if (box_iou(cand, &objs[j]) > MAX_IOU) return 0;
    for (int y = 0; y < cand->h; y++)
        for (int x = 0; x < cand->w; x++) {
            if (alpha_of(patch[y * cand->w + x]) < VISIBLE_ALPHA) continue;
            int o = f->owner[(size_t)(cand->y + y) * f->size + cand->x + x];
            if (o != NO_OWNER) covered[o]++;
        }
    for (int j = 0; j < n; j++)
        if (objs[j].owned - covered[j] < MIN_KEPT * objs[j].pixels) return 0;
    return 1;
}

/* Blend the item into the frame and take its visible pixels in the owner map. */
static void paint(frame *f, const float *patch, const item_look *look, placed *objs, int id)
{
    placed *p = &objs[id];
    size_t plane = (size_t)f->size * f->size;
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++) {
            float v = patch[y * p->w + x], a = alpha_of(v);
            size_t i = (size_t)(p->y + y) * f->size + p->x + x;
            for (int k = 0; k < 3; k++) f->px[k * plane + i] += a * (v * look->tint[k] - f->px[k * plane + i]);
            if (a < VISIBLE_ALPHA) continue;
            if (f->owner[i] != NO_OWNER) objs[f->owner[i]].owned--;
            f->owner[i] = (unsigned char)id;
        }
    p->owned = p->pixels;
}

static void pick_item(const ecn_dataset *items, unsigned long long *rng, item_look *look)
{
    int idx = below(rng, items->n);
    const unsigned char *src = items->pixels + (size_t)idx * 28 * 28;
    for (int i = 0; i < 28 * 28; i++) look->src[i] = src[i] / 255.f;
    look->cls = items->labels[idx];
    look->flip = below(rng, 2);
    if (below(rng, 2)) {
        look->tint[0] = look->tint[1] = look->tint[2] = 1;
    } else {
        for (int k = 0; k < 3; k++) look->tint[k] = between(rng, .3f, 1);
    }
}

typedef struct item_sizes {
    int min, max;
} item_sizes;

/* Up to PLACE_TRIES sizes and places; 1 when one was accepted and painted. */
static int place_object(frame *f, const ecn_dataset *items, item_sizes sz, unsigned long long *rng,
                        placed *objs, int n, float *patch)
{
    item_look look;
    pick_item(items, rng, &look);
    float log_ratio = logf((float)sz.max / sz.min), log_aspect = logf(1.25f);
    for (int t = 0; t < PLACE_TRIES; t++) {
        float side = sz.min * expf(uniform(rng) * log_ratio), aspect = expf(between(rng, -log_aspect, log_aspect));
        placed c = {0};
        c.w = (int)lroundf(side * aspect);
        c.h = (int)lroundf(side / aspect);
        c.w = c.w < 2 ? 2 : c.w > f->size ? f->size : c.w;
        c.h = c.h < 2 ? 2 : c.h > f->size ? f->size : c.h;
        c.x = below(rng, f->size - c.w + 1);
        c.y = below(rng, f->size - c.h + 1);
        c.cls = look.cls;
        ecn_compose_scale_item(look.src, 28, 28, c.w, c.h, look.flip, patch);
        own_box(patch, &c);
        if (c.pixels < MIN_PIXELS || !fits(f, patch, &c, objs, n)) continue;
        objs[n] = c;
        paint(f, patch, &look, objs, n);
        return 1;
    }
    return 0;
}

/* ---- frames and files ------------------------------------------------------- */

static int size_bin(float side)
{
    int bin = 0;
    for (float edge = 8; bin < ECN_COMPOSE_SIZE_BINS - 1 && side >= edge; edge *= 2) bin++;
    return bin;
}

static int write_labels(const char *path, const frame *f, const placed *objs, int n,
                        ecn_compose_split_stats *st, ecn_err *err)
{
    FILE *fp = fopen(path, "w");
    if (!fp) return ecn_fail(err, "%s: cannot create: %s", path, strerror(errno));
    for (int i = 0; i < n; i++) {
        int x0, y0, x1, y1;
        if (!ecn_compose_owned_box(f->owner, f->size, i, &x0, &y0, &x1, &y1)) continue;
        float s = (float)f->size, w = (float)(x1 - x0 + 1), h = (float)(y1 - y0 + 1);
        fprintf(fp, "%d %.6f %.6f %.6f %.6f\n", objs[i].cls, (x0 + w / 2) / s, (y0 + h / 2) / s, w / s, h / s);
        st->per_class[objs[i].cls]++;
        st->size_hist[size_bin(sqrtf(w * h))]++;
    }
    if (fclose(fp) != 0) return ecn_fail(err, "%s: write failed", path);
    return 0;
}

typedef struct composer {
    const ecn_compose_opts *o;
    const photo_set *photos;
    item_sizes sizes;
    frame f;
    float *patch;
} composer;

static int compose_frame(composer *c, const ecn_dataset *items, int split, int index, FILE *list,
                         ecn_compose_split_stats *st, ecn_err *err)
{
    static const char *const split_dir[2] = {"train", "test"};
    const ecn_compose_opts *o = c->o;
    unsigned long long rng = frame_rng(o->seed, split, index);
    memset(c->f.owner, NO_OWNER, (size_t)o->size * o->size);
    st->photo_frames += background(&c->f, c->photos, &rng);
    int want = (o->max_objects == 0 || uniform(&rng) < o->empty_share) ? 0 : 1 + below(&rng, o->max_objects);
    placed objs[ECN_COMPOSE_MAX_OBJECTS];
    int n = 0;
    for (int k = 0; k < want; k++) n += place_object(&c->f, items, c->sizes, &rng, objs, n, c->patch);
    st->frames++;
    st->objects += n;
    st->empty += n == 0;
    st->dropped += want - n;
    st->per_count[n]++;

    char rel[64], path[4096];
    snprintf(rel, sizeof rel, "images/%s/%06d.png", split_dir[split], index);
    snprintf(path, sizeof path, "%s/%s", o->out_dir, rel);
    ecn_image im = {o->size, o->size, 3, c->f.px};
    if (ecn_image_save_png(&im, path, err)) return -1;
    fprintf(list, "%s\n", rel);
    snprintf(path, sizeof path, "%s/labels/%s/%06d.txt", o->out_dir, split_dir[split], index);
    return write_labels(path, &c->f, objs, n, st, err);
}

/* mkdir -p */
static int make_dirs(const char *path, ecn_err *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return ecn_fail(err, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        int end = *p == 0;
        if (*p != '/' && !end) continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return ecn_fail(err, "%s: cannot create: %s", buf, strerror(errno));
        if (end) return 0;
        *p = '/';
    }
}

static int write_text(const char *dir, const char *name, const char *text, ecn_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return ecn_fail(err, "%s: cannot create: %s", path, strerror(errno));
    fputs(text, f);
    if (fclose(f) != 0) return ecn_fail(err, "%s: write failed", path);
    return 0;
}

static int write_meta(const char *dir, ecn_err *err)
{
    char names[256] = "";
    for (int k = 0; k < 10; k++) {
        strcat(names, class_names[k]);
        strcat(names, "\n");
    }
    return write_text(dir, "det.names", names, err) ||
           write_text(dir, "det.data", "classes = 10\ntrain = train.txt\nvalid = test.txt\nnames = det.names\n", err);
}

int ecn_compose_check(const ecn_compose_opts *o, ecn_err *err)
{
    if (!o->out_dir || !*o->out_dir) return ecn_fail(err, "compose: no output directory");
    if (o->train < 0 || o->test < 0)
        return ecn_fail(err, "compose: %d train and %d test frames: expected 0 or more", o->train, o->test);
    if (o->size < 32 || o->size > 4096)
        return ecn_fail(err, "compose: frame size %d: expected 32 to 4096", o->size);
    if (o->max_objects < 0 || o->max_objects > ECN_COMPOSE_MAX_OBJECTS)
        return ecn_fail(err, "compose: %d objects per frame: expected 0 to %d", o->max_objects,
                        ECN_COMPOSE_MAX_OBJECTS);
    if (!(o->empty_share >= 0 && o->empty_share <= 1))
        return ecn_fail(err, "compose: empty share %g: expected 0 to 1", o->empty_share);
    int lo = o->min_item ? o->min_item : o->size / 16, hi = o->max_item ? o->max_item : o->size / 2;
    if (lo < 2 || hi < lo || hi > o->size)
        return ecn_fail(err, "compose: item sides %d to %d: expected 2 <= min <= max <= %d", lo, hi, o->size);
    return 0;
}

/* One split: its Fashion-MNIST items, its frames, its list. */
static int compose_split(composer *c, int split, int total, int *done, ecn_compose_split_stats *st, ecn_err *err)
{
    const ecn_compose_opts *o = c->o;
    int frames = split ? o->test : o->train;
    char path[4096];
    snprintf(path, sizeof path, "%s/images/%s", o->out_dir, split ? "test" : "train");
    if (make_dirs(path, err)) return -1;
    snprintf(path, sizeof path, "%s/labels/%s", o->out_dir, split ? "test" : "train");
    if (make_dirs(path, err)) return -1;
    ecn_dataset items = {0};
    if (frames && ecn_dataset_open("fashion-mnist", split, &items, err)) return -1;
    snprintf(path, sizeof path, "%s/%s", o->out_dir, split ? "test.txt" : "train.txt");
    FILE *list = fopen(path, "w");
    int rc = list ? 0 : ecn_fail(err, "%s: cannot create: %s", path, strerror(errno));
    for (int i = 0; i < frames && !rc; i++) {
        rc = compose_frame(c, &items, split, i, list, st, err);
        if (o->progress) o->progress(o->user, ++*done, total);
    }
    if (list && fclose(list) != 0 && !rc) rc = ecn_fail(err, "%s: write failed", path);
    if (frames) ecn_dataset_free(&items);
    return rc;
}

int ecn_compose(const ecn_compose_opts *o, ecn_compose_stats *stats, ecn_err *err)
{
    memset(stats, 0, sizeof *stats);
    if (ecn_compose_check(o, err) || make_dirs(o->out_dir, err) || write_meta(o->out_dir, err)) return -1;
    photo_set photos;
    if (photos_load(o->photo_dir ? o->photo_dir : "/usr/share/darknet/data", o->size, &photos, err)) return -1;
    stats->photos = photos.n;
    item_sizes sizes = {o->min_item ? o->min_item : o->size / 16, o->max_item ? o->max_item : o->size / 2};
    composer c = {o, &photos, sizes, {0}, NULL};
    size_t plane = (size_t)o->size * o->size;
    c.f.size = o->size;
    c.f.px = ecn_calloc(3 * plane, sizeof *c.f.px, err);
    c.f.owner = c.f.px ? ecn_calloc(plane, 1, err) : NULL;
    c.patch = c.f.owner ? ecn_calloc((size_t)c.sizes.max * 2 * c.sizes.max * 2, sizeof *c.patch, err) : NULL;
    int rc = c.patch ? 0 : -1, done = 0;
    for (int split = 0; split < 2 && !rc; split++)
        rc = compose_split(&c, split, o->train + o->test, &done, &stats->split[split], err);
    free(c.f.px);
    free(c.f.owner);
    free(c.patch);
    photos_free(&photos);
    return rc;
}
