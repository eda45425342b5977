/* region.c - the YOLOv2 detection head, [region].
 *
 * The maths.  The layer before predicts, for each cell (row r, column c) of
 * a w x h grid and each of the `num` anchors, coords + 1 + classes numbers:
 *
 *     tx, ty, tw, th, (coords-4 mask values), to, t_1 .. t_classes
 *
 * Forward (inference):
 *
 *     x = s(tx)   y = s(ty)           s(t) = 1 / (1 + e^-t), the logistic
 *     objectness = s(to)              (left raw when background=1)
 *     classes:   softmax=1: softmax over t_1..t_classes of the cell (and
 *                           over to too when background=1);
 *                otherwise: s(t_j) each
 *
 * Decoding gives a box relative to the network input; unlike [yolo] the
 * anchors are in grid cells, not pixels:
 *
 *     bx = (c + x) / w              by = (r + y) / h
 *     bw = e^tw * anchor_w / w      bh = e^th * anchor_h / h
 *     scale = objectness (1 with background=1)
 *     objectness' = scale > thresh ? scale : 0
 *     prob_j = scale * class_j, 0 unless > thresh (all 0 when objectness' is)
 *
 * Every cell and anchor gives a detection (w*h*num of them), empty ones with
 * objectness 0, as Darknet's get_region_detections does.
 *
 * Memory layout (Darknet's): per image, anchor-major, one w*h plane per
 * entry: entry e of anchor n at cell loc of image b lies at
 *
 *     b*outputs + n*w*h*(coords+1+classes) + e*w*h + loc
 *
 * The training options (scales, rescore, bias_match, ...) are read for
 * compatibility; this file only does inference.  YOLO9000's softmax trees
 * (tree=, map=) are not supported.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "cpu/activations.h"
#include "cpu/blas.h"
#include "detect/detections.h"

typedef struct region_params {
    int coords, classes, n;
    float *biases; /* 2*n: anchor width, height in grid cells */
    int softmax, background;
    /* Training only: */
    int log, sqrt, max_boxes, rescore, classfix, absolute, random, bias_match;
    float jitter, thresh, coord_scale, object_scale, noobject_scale, mask_scale, class_scale;
} region_params;

static void region_destroy(ecn_layer *l)
{
    region_params *p = l->p;
    if (p) free(p->biases);
    free(p);
    l->p = NULL;
}

static int region_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    region_params *p = calloc(1, sizeof *p);
    if (!p) return ecn_opt_fail(o, NULL, "out of memory");
    l->p = p;

    p->coords = ecn_opt_int_range(o, "coords", 4, 4, 1 << 16);
    p->classes = ecn_opt_int_range(o, "classes", 20, 1, 1 << 20);
    p->n = ecn_opt_int_range(o, "num", 1, 1, 1 << 16);
    p->log = ecn_opt_int(o, "log", 0);
    p->sqrt = ecn_opt_int(o, "sqrt", 0);
    p->softmax = ecn_opt_int_range(o, "softmax", 0, 0, 1);
    p->background = ecn_opt_int_range(o, "background", 0, 0, 1);
    p->max_boxes = ecn_opt_int(o, "max", 30);
    p->jitter = ecn_opt_float(o, "jitter", .2f);
    p->rescore = ecn_opt_int(o, "rescore", 0);
    p->thresh = ecn_opt_float(o, "thresh", .5f);
    p->classfix = ecn_opt_int(o, "classfix", 0);
    p->absolute = ecn_opt_int(o, "absolute", 0);
    p->random = ecn_opt_int(o, "random", 0);
    p->coord_scale = ecn_opt_float(o, "coord_scale", 1);
    p->object_scale = ecn_opt_float(o, "object_scale", 1);
    p->noobject_scale = ecn_opt_float(o, "noobject_scale", 1);
    p->mask_scale = ecn_opt_float(o, "mask_scale", 1);
    p->class_scale = ecn_opt_float(o, "class_scale", 1);
    p->bias_match = ecn_opt_int(o, "bias_match", 0);
    if (ecn_opt_has(o, "tree"))
        ecn_opt_fail(o, "tree", "softmax trees (YOLO9000) are not supported");
    if (ecn_opt_has(o, "map"))
        ecn_opt_fail(o, "map", "class maps (YOLO9000-style map= files) are not supported");
    int n_anchors = ecn_opt_count(o, "anchors");
    if (o->failed) goto fail;

    p->biases = malloc((size_t)2 * p->n * sizeof *p->biases);
    if (!p->biases) {
        ecn_opt_fail(o, NULL, "out of memory");
        goto fail;
    }
    for (int i = 0; i < 2 * p->n; i++) p->biases[i] = .5f; /* Darknet's default anchor */
    if (n_anchors > 2 * p->n)
        ecn_opt_fail(o, "anchors", "%d values given but num=%d anchors take %d", n_anchors, p->n,
                     2 * p->n);
    else if (n_anchors)
        ecn_opt_floats(o, "anchors", p->biases, n_anchors);
    if (o->failed) goto fail;

    int need = p->n * (p->coords + 1 + p->classes);
    if (b->input.c != need)
        ecn_opt_fail(o, NULL,
                     "the layer before gives %d channels, but num=%d anchors x (%d coords + 1 "
                     "objectness + %d classes) need %d: set filters=%d in the [convolutional] "
                     "before this [region]",
                     b->input.c, p->n, p->coords, p->classes, need, need);
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
    region_destroy(l);
    return -1;
}

static void region_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    const region_params *p = l->p;
    size_t outputs = ecn_layer_outputs(l), wh = (size_t)l->out.w * l->out.h;
    size_t per_anchor = wh * ((size_t)p->coords + 1 + p->classes);
    if (in[0] != l->output) ecn_copy(in[0], outputs * l->batch, l->output);
    for (int b = 0; b < l->batch; b++) {
        for (int n = 0; n < p->n; n++) {
            float *a = l->output + b * outputs + n * per_anchor;
            ecn_activate(a, 2 * wh, ECN_LOGISTIC); /* x, y */
            if (!p->background) ecn_activate(a + p->coords * wh, wh, ECN_LOGISTIC);
            if (!p->softmax) {
                ecn_activate(a + (p->coords + 1) * wh, (size_t)p->classes * wh, ECN_LOGISTIC);
                continue;
            }
            /* One softmax per cell over the class planes (background: the
             * objectness plane joins them), values w*h apart.  The entries
             * are still raw: nothing above touched them. */
            float *first = a + (p->coords + !p->background) * wh;
            for (size_t loc = 0; loc < wh; loc++)
                ecn_softmax(first + loc, p->classes + p->background, 1, (int)wh, first + loc);
        }
    }
}

static int region_max_detections(const ecn_layer *l)
{
    const region_params *p = l->p;
    return l->out.w * l->out.h * p->n;
}

static int region_detections(const ecn_layer *l, const float *out, const ecn_detect_opts *opts,
                             ecn_shape net_input, ecn_detection *dets, int max)
{
    const region_params *p = l->p;
    const int w = l->out.w, h = l->out.h;
    const size_t wh = (size_t)w * h, per_anchor = wh * ((size_t)p->coords + 1 + p->classes);
    const float thresh = opts->thresh;
    const int count = (int)wh * p->n;
    if (count > max) return -1;
    for (int k = 0; k < count; k++) dets[k].prob = NULL;
    for (size_t i = 0; i < wh; i++) {
        int row = (int)(i / (size_t)w), col = (int)(i % (size_t)w);
        for (int n = 0; n < p->n; n++) {
            ecn_detection *d = &dets[(size_t)n * wh + i]; /* Darknet's order: anchor-major */
            const float *e = out + n * per_anchor + i;     /* entry k is e[k*wh] */
            d->prob = calloc((size_t)p->classes, sizeof *d->prob);
            if (!d->prob) goto nomem;
            float scale = p->background ? 1 : e[p->coords * wh];
            d->box.x = (col + e[0]) / w;
            d->box.y = (row + e[wh]) / h;
            d->box.w = (float)(exp(e[2 * wh]) * p->biases[2 * n] / w);
            d->box.h = (float)(exp(e[3 * wh]) * p->biases[2 * n + 1] / h);
            d->objectness = scale > thresh ? scale : 0;
            d->classes = p->classes;
            if (d->objectness == 0) continue;
            for (int j = 0; j < p->classes; j++) {
                /* Darknet reads the classes from entry coords+1 here even
                 * with background=1; we do the same. */
                float prob = scale * e[((size_t)p->coords + 1 + j) * wh];
                d->prob[j] = prob > thresh ? prob : 0;
            }
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

static double region_flops(const ecn_layer *l)
{
    (void)l;
    return 0;
}

static void region_describe(const ecn_layer *l, char *buf, size_t n)
{
    (void)l;
    if (n) buf[0] = 0;
}

const ecn_layer_ops ecn_region_ops = {
    .name = "region",
    .make = region_make,
    .forward = region_forward,
    .flops = region_flops,
    .describe = region_describe,
    .destroy = region_destroy,
    .detections = region_detections,
    .max_detections = region_max_detections,
};
