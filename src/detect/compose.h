/* compose.h - a detection data set made from real images.
 *
 * Fashion-MNIST items (28 x 28 grey photographs of products on black) are
 * pasted onto varied backgrounds (crops of real photographs, gradients,
 * smooth noise, stripes, checkers) at random sizes and counts, and written
 * as a Darknet detection set:
 *
 *     DIR/det.data                 classes, train, valid, names (DIR-relative)
 *     DIR/det.names                the 10 Fashion-MNIST class names
 *     DIR/train.txt, DIR/test.txt  image paths, DIR-relative
 *     DIR/images/{train,test}/NNNNNN.png
 *     DIR/labels/{train,test}/NNNNNN.txt   "class x y w h", relative, one a line
 *
 * Train frames use items of Fashion-MNIST's train split, test frames items of
 * its test split.  Every frame is drawn from its own random stream, derived
 * from (seed, split, frame number): the same seed gives the same bytes, and
 * frame k does not depend on how many frames are composed.  See
 * docs/detection.md for the distributions.
 */
#ifndef ECN_COMPOSE_H
#define ECN_COMPOSE_H

#include "../ecnet.h"

enum {
    ECN_COMPOSE_MAX_OBJECTS = 50, /* the most objects a frame may ask for */
    ECN_COMPOSE_SIZE_BINS = 6     /* box size histogram: sqrt(w h) < 8, 16, 32, 64, 128, more */
};

typedef struct ecn_compose_opts {
    const char *out_dir;
    unsigned long long seed;
    int train, test;        /* frames per split */
    int size;               /* frame side in pixels (square frames) */
    int max_objects;        /* objects per frame: 0 .. max_objects */
    int min_item, max_item; /* side of a pasted item in pixels; 0: size/16 and size/2 */
    float empty_share;      /* share of empty frames; the rest: 1 .. max_objects, uniform */
    const char *photo_dir;  /* background photographs (*.jpg); NULL: /usr/share/darknet/data */
    void (*progress)(void *user, int done, int total); /* optional, after each frame */
    void *user;
} ecn_compose_opts;

/* Defaults: seed 1, 4000 train and 1000 test frames of 128 x 128, up to 10
 * objects, items from 8 to 64 pixels, 12% empty frames. */
void ecn_compose_defaults(ecn_compose_opts *o);

typedef struct ecn_compose_split_stats {
    int frames, objects, empty;
    int photo_frames;                            /* frames on a photograph */
    int dropped;                                 /* objects asked for that found no place */
    int per_count[ECN_COMPOSE_MAX_OBJECTS + 1];  /* frames with k objects */
    int per_class[10];
    int size_hist[ECN_COMPOSE_SIZE_BINS];        /* boxes by sqrt(w h) in pixels */
} ecn_compose_split_stats;

typedef struct ecn_compose_stats {
    ecn_compose_split_stats split[2]; /* 0 train, 1 test */
    int photos;                       /* background photographs found */
} ecn_compose_stats;

/* 0 when the options make sense (sizes, counts, shares), else -1 and why. */
int ecn_compose_check(const ecn_compose_opts *o, ecn_err *err);

/* Compose the whole set.  Creates out_dir (and missing parents); existing
 * files of the same names are overwritten, others left alone. */
int ecn_compose(const ecn_compose_opts *o, ecn_compose_stats *stats, ecn_err *err);

/* ---- the pieces, for tests ---- */

/* Scale a w_in x h_in image to w x h: bilinear at pixel centres, averaging
 * kx x ky samples spread over each output pixel's footprint when shrinking
 * (kx = ceil(w_in / w), ky = ceil(h_in / h)), zero outside the source.  flip
 * mirrors it left to right. */
void ecn_compose_scale_item(const float *src, int w_in, int h_in, int w, int h, int flip,
                            float *out);

/* Tight box (inclusive pixel bounds) of the pixels of owner map `owner`
 * (size x size) equal to `id`; returns the pixel count (0: no box). */
int ecn_compose_owned_box(const unsigned char *owner, int size, int id, int *x0, int *y0, int *x1,
                          int *y1);

#endif
