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
 * YOLO9000's softmax trees (tree=, map=) are not supported.
 *
 * Training (Darknet's forward_region_layer, pjreddie 2018).  As in [yolo]
 * (see yolo.c) the layer writes delta = -dL/d(output) itself and backward
 * adds it to the input's delta unchanged: for x, y and a logistic
 * objectness that is the cross-entropy gradient with respect to the logit,
 * for the softmax classes (target - p) is the softmax cross-entropy
 * gradient with respect to the logits, for tw, th the squared-error one.
 * Per image, with truth boxes (x, y, w, h, class) relative to the input:
 *
 *   1. every cell (i, j) and anchor n: pred = its decoded box, best = the
 *      highest IoU of pred with any truth box;
 *          delta_obj = noobject_scale * (0 - obj)
 *                      (background=1: noobject_scale * (1 - obj))
 *          delta_obj = 0                        if best > thresh
 *   2. every truth box, in order, at its cell i = (int)(x * w),
 *      j = (int)(y * h) (clamped into the grid; Darknet does not clamp): the
 *      best anchor n by the IoU of shapes (both centred at 0) between the
 *      truth and the anchor's predicted box there, or with bias_match=1 the
 *      anchor itself (biases / grid size); the first wins ties.  Then
 *          scale = coord_scale * (2 - truth.w * truth.h)
 *          delta_x = scale * (x * w - i - s(tx)),  delta_y likewise
 *          delta_w = scale * (log(truth.w * w / anchor_w) - tw),  delta_h likewise
 *          iou = IoU of the predicted box (before this step) with the truth
 *          delta_obj = object_scale * (1 - obj)      (rescore=1: (iou - obj);
 *                      background=1: (0 - obj), as Darknet)
 *          classes: class_scale * ([k == c] - p_k) for every class k; with
 *          softmax=0, when the delta of class 0 is already nonzero there (an
 *          earlier truth in the same cell and anchor), only the truth's
 *          class is set, to class_scale * (1 - p_c) (Darknet's
 *          delta_region_class with tag = !softmax).
 *   loss = sum of delta^2 over the batch (Darknet: mag_array(delta)^2; here
 *          accumulated in double).
 *
 * Deliberate differences from Darknet:
 *   - Darknet, while fewer than 12800 images have been seen, also pulls
 *     every box toward its anchor centred in its cell (a box delta with
 *     scale .01, set in step 1 before step 2 overwrites the responsible
 *     ones).  Layers here see no image count (ecn_ctx has no `seen`), so
 *     that warm-up rule is left out.
 *   - Darknet's CPU backward_region_layer is empty (its body is commented
 *     out), so CPU Darknet never trains through [region]; its GPU path adds
 *     the delta to the input's delta, which is what is done here.
 *   - Truth: ecnet's 5 floats per box (Darknet's region truth has coords+1
 *     per box); min(max, truth_floats / 5) boxes (Darknet: always 30, the
 *     default of max), the list ending at the first box with w == 0
 *     (Darknet: x == 0, the same for its data).  So with coords > 4 the
 *     extra mask entries get no delta (Darknet's delta_region_mask needs
 *     mask values in the truth).  A box with w < 0, h <= 0 or a value that
 *     is not finite is skipped, and a class outside [0, classes) (after
 *     Darknet's truncation to int) gets no class delta, where Darknet would
 *     read or write out of bounds or produce NaN.
 *   - With ctx->truth NULL there is no loss and the delta stays 0.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "cpu/activations.h"
#include "cpu/blas.h"
#include "detect/detections.h"

#ifdef ECN_GPU
#include "cuda/gpu.h"
#endif

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

    long long need = (long long)p->n * ((long long)p->coords + 1 + p->classes); /* no int overflow for hostile sizes */
    if (b->input.c != need)
        ecn_opt_fail(o, NULL,
                     "the layer before gives %d channels, but num=%d anchors x (%d coords + 1 "
                     "objectness + %d classes) need %lld: set filters=%lld in the [convolutional] "
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

/* ---- training ---------------------------------------------------------- */

/* Box of anchor n at cell (i, j); e points at its entry 0, entries wh apart
 * (Darknet's get_region_box, float for float). */
static ecn_box region_box(const region_params *p, const float *e, size_t wh, int n, int i, int j,
                          int w, int h)
{
    ecn_box bx;
    bx.x = (i + e[0]) / w;
    bx.y = (j + e[wh]) / h;
    bx.w = (float)(exp(e[2 * wh]) * p->biases[2 * n] / w);
    bx.h = (float)(exp(e[3 * wh]) * p->biases[2 * n + 1] / h);
    return bx;
}

/* Box deltas toward truth for anchor n at cell (i, j) (Darknet's
 * delta_region_box); returns the IoU of the predicted box with the truth. */
static float region_box_delta(const region_params *p, ecn_box truth, const float *e, float *d,
                              size_t wh, int n, int i, int j, int w, int h, float scale)
{
    float iou = ecn_box_iou(region_box(p, e, wh, n, i, j, w, h), truth);
    float tx = truth.x * w - i;
    float ty = truth.y * h - j;
    float tw = (float)log(truth.w * w / p->biases[2 * n]);
    float th = (float)log(truth.h * h / p->biases[2 * n + 1]);
    d[0] = scale * (tx - e[0]);
    d[wh] = scale * (ty - e[wh]);
    d[2 * wh] = scale * (tw - e[2 * wh]);
    d[3 * wh] = scale * (th - e[3 * wh]);
    return iou;
}

/* Class deltas (Darknet's delta_region_class without a tree, tag =
 * !softmax); e and d point at class 0. */
static void region_class_delta(const region_params *p, const float *e, float *d, size_t wh,
                               int cls)
{
    if (cls < 0) return;
    if (d[0] != 0 && !p->softmax) {
        d[(size_t)cls * wh] = p->class_scale * (1 - e[(size_t)cls * wh]);
        return;
    }
    for (int k = 0; k < p->classes; k++)
        d[(size_t)k * wh] = p->class_scale * ((k == cls ? 1.f : 0.f) - e[(size_t)k * wh]);
}

static void region_loss(ecn_layer *l, const ecn_ctx *ctx)
{
    const region_params *p = l->p;
    l->loss = 0;
    if (!ctx->truth || !l->delta || ctx->truth_floats <= 0) return;
    const int w = l->out.w, h = l->out.h;
    const size_t outputs = ecn_layer_outputs(l), wh = (size_t)w * h;
    const size_t per_anchor = wh * ((size_t)p->coords + 1 + p->classes);
    int max_boxes = ctx->truth_floats / 5;
    if (p->max_boxes < max_boxes) max_boxes = p->max_boxes;

    for (int b = 0; b < l->batch; b++) {
        const float *out = l->output + (size_t)b * outputs;
        float *delta = l->delta + (size_t)b * outputs;
        const float *truth = ctx->truth + (size_t)b * ctx->truth_floats;

        /* 1: no object, unless the prediction already overlaps a truth. */
        for (int j = 0; j < h; j++)
            for (int i = 0; i < w; i++)
                for (int n = 0; n < p->n; n++) {
                    size_t base = n * per_anchor + (size_t)j * w + i;
                    ecn_box pred = region_box(p, out + base, wh, n, i, j, w, h);
                    float best_iou = 0;
                    for (int t = 0; t < max_boxes; t++) {
                        ecn_box tb;
                        int r = ecn_truth_box(truth + 5 * t, &tb);
                        if (r == 0) break;
                        if (r < 0) continue;
                        float iou = ecn_box_iou(pred, tb);
                        if (iou > best_iou) best_iou = iou;
                    }
                    size_t obj = base + (size_t)p->coords * wh;
                    delta[obj] = p->noobject_scale * ((p->background ? 1.f : 0.f) - out[obj]);
                    if (best_iou > p->thresh) delta[obj] = 0;
                }

        /* 2: each truth box trains the best anchor at its cell. */
        for (int t = 0; t < max_boxes; t++) {
            const float *tr = truth + 5 * t;
            ecn_box tb;
            int r = ecn_truth_box(tr, &tb);
            if (r == 0) break;
            if (r < 0) continue;
            int i = ecn_truth_cell(tb.x, w), j = ecn_truth_cell(tb.y, h);
            size_t cell = (size_t)j * w + i;
            ecn_box shift = {0, 0, tb.w, tb.h};
            float best_iou = 0;
            int best_n = 0;
            for (int n = 0; n < p->n; n++) {
                ecn_box pred = region_box(p, out + n * per_anchor + cell, wh, n, i, j, w, h);
                if (p->bias_match) {
                    pred.w = p->biases[2 * n] / w;
                    pred.h = p->biases[2 * n + 1] / h;
                }
                pred.x = pred.y = 0;
                float iou = ecn_box_iou(pred, shift);
                if (iou > best_iou) {
                    best_iou = iou;
                    best_n = n;
                }
            }
            size_t base = best_n * per_anchor + cell;
            float iou = region_box_delta(p, tb, out + base, delta + base, wh, best_n, i, j, w, h,
                                         p->coord_scale * (2 - tb.w * tb.h));
            size_t obj = base + (size_t)p->coords * wh;
            delta[obj] = p->object_scale * (1 - out[obj]);
            if (p->rescore) delta[obj] = p->object_scale * (iou - out[obj]);
            if (p->background) delta[obj] = p->object_scale * (0 - out[obj]);
            size_t cls = base + ((size_t)p->coords + 1) * wh;
            region_class_delta(p, out + cls, delta + cls, wh, ecn_truth_class(tr[4], p->classes));
        }
    }

    double loss = 0;
    for (size_t k = 0; k < (size_t)l->batch * outputs; k++) loss += (double)l->delta[k] * l->delta[k];
    l->loss = (float)loss;
}

static void region_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
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
    if (ctx && ctx->train) region_loss(l, ctx);
}

static void region_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                            const ecn_ctx *ctx)
{
    (void)in;
    (void)ctx;
    if (in_delta[0]) ecn_axpy((size_t)l->batch * ecn_layer_outputs(l), 1, l->delta, in_delta[0]);
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

/* ---- GPU inference: copy (unless in place), then the logistics and the
 * per-cell softmax (cuda/yolo.cu).  Decoding stays on the host. */
#ifdef ECN_GPU
static int region_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    const region_params *p = l->p;
    size_t bytes = ecn_layer_outputs(l) * (size_t)l->batch * sizeof(float);
    if (ecn_gpu_copy(l->gpu.output, in[0], bytes, err)) return -1;
    return ecn_gpu_region_activate(l->gpu.output, l->batch, p->n, l->out.w * l->out.h, p->coords, p->classes,
                                   p->background, p->softmax, err);
}
#endif

const ecn_layer_ops ecn_region_ops = {
    .name = "region",
    .make = region_make,
    .forward = region_forward,
    .backward = region_backward,
    .flops = region_flops,
    .describe = region_describe,
    .destroy = region_destroy,
    .detections = region_detections,
    .max_detections = region_max_detections,
    .forward_gpu = ECN_GPU_OP(region_forward_gpu),
};
