/* yolo.c - the YOLOv3 detection head, [yolo].
 *
 * The maths.  The layer before (a 1x1 [convolutional] with linear
 * activation) predicts, for each cell (row r, column c) of a w x h grid and
 * each of the n anchors this head owns (the `mask`), 4 + 1 + classes numbers:
 *
 *     tx, ty, tw, th, to, t_1 .. t_classes
 *
 * Forward (inference) squashes all of them but the box size with the
 * logistic function s(t) = 1 / (1 + e^-t), and leaves tw, th raw:
 *
 *     x = s(tx)   y = s(ty)   objectness = s(to)   class_j = s(t_j)
 *
 * Each class is its own yes/no question (no softmax: "woman" and "person"
 * can both be true).  Decoding gives a box relative to the network input:
 *
 *     bx = (c + x) / w                by = (r + y) / h
 *     bw = e^tw * anchor_w / net_w    bh = e^th * anchor_h / net_h
 *     prob_j = objectness * class_j   (0 unless > thresh)
 *
 * where anchor = anchors[mask[n]] is in pixels of the network input.  Cells
 * whose objectness is <= thresh give no detection at all.
 *
 * Memory layout (Darknet's): per image, anchor-major, then one w*h plane
 * per entry, so entry e of anchor n at cell loc of image b lies at
 *
 *     b*outputs + n*w*h*(4+1+classes) + e*w*h + loc
 *
 * The training loss (ignore_thresh, truth_thresh, jitter, random, max) is
 * read for compatibility; this file only does inference.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "cpu/activations.h"
#include "cpu/blas.h"
#include "detect/detections.h"

typedef struct yolo_params {
    int classes;
    int total;       /* anchors listed in the cfg (num) */
    int n;           /* anchors this head predicts: len(mask) */
    int *mask;       /* n indices into the anchors */
    float *biases;   /* 2*total: anchor width, height in input pixels */
    int max_boxes;   /* training only, as the rest of this line and the next */
    int random;
    float jitter, ignore_thresh, truth_thresh;
} yolo_params;

static void yolo_free_params(yolo_params *p)
{
    if (!p) return;
    free(p->mask);
    free(p->biases);
    free(p);
}

static void yolo_destroy(ecn_layer *l)
{
    yolo_free_params(l->p);
    l->p = NULL;
}

static int yolo_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    yolo_params *p = calloc(1, sizeof *p);
    if (!p) return ecn_opt_fail(o, NULL, "out of memory");
    l->p = p;

    p->classes = ecn_opt_int_range(o, "classes", 20, 1, 1 << 20);
    p->total = ecn_opt_int_range(o, "num", 1, 1, 1 << 16);
    int n_mask = ecn_opt_count(o, "mask");
    int n_anchors = ecn_opt_count(o, "anchors");
    p->max_boxes = ecn_opt_int(o, "max", 90);
    p->jitter = ecn_opt_float(o, "jitter", .2f);
    p->ignore_thresh = ecn_opt_float(o, "ignore_thresh", .5f);
    p->truth_thresh = ecn_opt_float(o, "truth_thresh", 1);
    p->random = ecn_opt_int(o, "random", 0);
    if (ecn_opt_has(o, "map"))
        ecn_opt_fail(o, "map", "class maps (YOLO9000-style map= files) are not supported");
    if (o->failed) goto fail;

    /* mask: which of the `num` anchors this head uses; all of them by default. */
    p->n = n_mask ? n_mask : p->total;
    p->mask = calloc((size_t)p->n, sizeof *p->mask);
    p->biases = malloc((size_t)2 * p->total * sizeof *p->biases);
    if (!p->mask || !p->biases) {
        ecn_opt_fail(o, NULL, "out of memory");
        goto fail;
    }
    if (n_mask) {
        ecn_opt_ints(o, "mask", p->mask, n_mask);
        for (int i = 0; i < n_mask && !o->failed; i++)
            if (p->mask[i] < 0 || p->mask[i] >= p->total)
                ecn_opt_fail(o, "mask", "anchor index %d is outside 0..%d (num=%d)", p->mask[i],
                             p->total - 1, p->total);
    } else {
        for (int i = 0; i < p->n; i++) p->mask[i] = i;
    }

    /* anchors: w,h pairs in input pixels; Darknet leaves the missing ones at .5. */
    for (int i = 0; i < 2 * p->total; i++) p->biases[i] = .5f;
    if (n_anchors > 2 * p->total)
        ecn_opt_fail(o, "anchors", "%d values given but num=%d anchors take %d", n_anchors,
                     p->total, 2 * p->total);
    else if (n_anchors)
        ecn_opt_floats(o, "anchors", p->biases, n_anchors);
    if (o->failed) goto fail;

    int need = p->n * (4 + 1 + p->classes);
    if (b->input.c != need)
        ecn_opt_fail(o, NULL,
                     "the layer before gives %d channels, but %d anchors (mask) x (4 box + 1 "
                     "objectness + %d classes) need %d: set filters=%d in the [convolutional] "
                     "before this [yolo]",
                     b->input.c, p->n, p->classes, need, need);
    else if (b->input.w <= 0 || b->input.h <= 0)
        ecn_opt_fail(o, NULL, "empty input (%d x %d)", b->input.w, b->input.h);
    if (o->failed) goto fail;

    l->batch = b->batch;
    l->in = b->input;
    l->out = b->input;
    l->n_sources = 1;
    l->sources[0] = b->index - 1;
    l->keep_output = 1; /* the detections are decoded after the forward pass */
    return 0;
fail:
    yolo_destroy(l);
    return -1;
}

static void yolo_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    const yolo_params *p = l->p;
    size_t outputs = ecn_layer_outputs(l), wh = (size_t)l->out.w * l->out.h;
    size_t per_anchor = wh * (4 + 1 + (size_t)p->classes);
    if (in[0] != l->output) ecn_copy(in[0], outputs * l->batch, l->output);
    for (int b = 0; b < l->batch; b++) {
        for (int n = 0; n < p->n; n++) {
            float *a = l->output + b * outputs + n * per_anchor;
            ecn_activate(a, 2 * wh, ECN_LOGISTIC);                         /* x, y */
            ecn_activate(a + 4 * wh, (1 + (size_t)p->classes) * wh, ECN_LOGISTIC); /* obj, classes */
        }
    }
}

static int yolo_max_detections(const ecn_layer *l)
{
    const yolo_params *p = l->p;
    return l->out.w * l->out.h * p->n;
}

static int yolo_detections(const ecn_layer *l, const float *out, const ecn_detect_opts *opts,
                           ecn_shape net_input, ecn_detection *dets, int max)
{
    const yolo_params *p = l->p;
    const int w = l->out.w, h = l->out.h;
    const size_t wh = (size_t)w * h, per_anchor = wh * (4 + 1 + (size_t)p->classes);
    const float thresh = opts->thresh;
    int count = 0;
    for (size_t i = 0; i < wh; i++) {
        int row = (int)(i / (size_t)w), col = (int)(i % (size_t)w);
        for (int n = 0; n < p->n; n++) {
            const float *e = out + n * per_anchor + i; /* entry k is e[k*wh] */
            float objectness = e[4 * wh];
            if (objectness <= thresh) continue;
            if (count >= max) goto nomem;
            ecn_detection *d = &dets[count];
            d->prob = calloc((size_t)p->classes, sizeof *d->prob);
            if (!d->prob) goto nomem;
            int m = p->mask[n];
            d->box.x = (col + e[0]) / w;
            d->box.y = (row + e[wh]) / h;
            d->box.w = (float)(exp(e[2 * wh]) * p->biases[2 * m] / net_input.w);
            d->box.h = (float)(exp(e[3 * wh]) * p->biases[2 * m + 1] / net_input.h);
            d->objectness = objectness;
            d->classes = p->classes;
            for (int j = 0; j < p->classes; j++) {
                float prob = objectness * e[(5 + (size_t)j) * wh];
                d->prob[j] = prob > thresh ? prob : 0;
            }
            count++;
        }
    }
    if (opts->letterboxed)
        ecn_correct_letterbox(dets, count, opts->image_w, opts->image_h, net_input.w, net_input.h);
    return count;
nomem:
    for (int k = 0; k < count; k++) {
        free(dets[k].prob);
        dets[k].prob = NULL;
    }
    return -1;
}

static double yolo_flops(const ecn_layer *l)
{
    (void)l;
    return 0;
}

static void yolo_describe(const ecn_layer *l, char *buf, size_t n)
{
    (void)l;
    if (n) buf[0] = 0;
}

const ecn_layer_ops ecn_yolo_ops = {
    .name = "yolo",
    .make = yolo_make,
    .forward = yolo_forward,
    .flops = yolo_flops,
    .describe = yolo_describe,
    .destroy = yolo_destroy,
    .detections = yolo_detections,
    .max_detections = yolo_max_detections,
};
