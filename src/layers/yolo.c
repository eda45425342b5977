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
 * Training (Darknet's forward_yolo_layer, pjreddie 2018).  The loss is not
 * a formula that is differentiated: Darknet writes l->delta (= -dL/d(output),
 * here as in layer.h) directly, and backward adds it to the input's delta
 * UNCHANGED.  For x, y, objectness and the classes the delta is taken on the
 * logistic outputs (target - s(t)) yet passed on as if it were the gradient
 * with respect to the logit t: that is exactly the gradient of the binary
 * cross-entropy, so no logistic derivative is applied.  For tw, th it is the
 * squared-error gradient on the raw values.  Per image, with truth boxes
 * (x, y, w, h, class) relative to the network input:
 *
 *   1. every cell (i, j) and anchor n of the mask: pred = its decoded box,
 *      best = the highest IoU of pred with any truth box;
 *          delta_obj = 0 - obj                     (no object here)
 *          delta_obj = 0        if best > ignore_thresh
 *      and if best > truth_thresh, Darknet's "also a match" rule (never with
 *      the default truth_thresh = 1): delta_obj = 1 - obj, plus the class
 *      and box deltas of step 2 toward that best truth, with anchor mask[n].
 *   2. every truth box, in order: the best of ALL `num` anchors by the IoU of
 *      shapes alone (both boxes centred at 0, anchor = biases / net size;
 *      the first anchor wins ties, none with IoU 0 gives anchor 0).  If that
 *      anchor is in the mask (at position m), at the truth's cell
 *      i = (int)(x * w), j = (int)(y * h)  (clamped into the grid; Darknet
 *      does not clamp, so x = 1 would write past the grid there):
 *          scale = 2 - truth.w * truth.h
 *          delta_x = scale * (x * w - i - s(tx))
 *          delta_y = scale * (y * h - j - s(ty))
 *          delta_w = scale * (log(truth.w * net_w / anchor_w) - tw)
 *          delta_h = scale * (log(truth.h * net_h / anchor_h) - th)
 *          delta_obj = 1 - obj
 *          classes: if the delta of class 0 there is already nonzero (an
 *          earlier truth or step 1 set them), only delta_c = 1 - p_c for
 *          this truth's class c; otherwise delta_k = [k == c] - p_k for all
 *          k (Darknet's delta_yolo_class, quirk included).
 *   loss = sum of delta^2 over the batch (Darknet: mag_array(delta)^2; here
 *          accumulated in double).
 *
 * Truth (ctx->truth, ctx->truth_floats per image): boxes of 5 floats,
 * min(max, truth_floats / 5) of them, the list ending at the first box
 * with w == 0 (ecnet's layout; Darknet ends at x == 0, which for its data
 * comes to the same).  Where Darknet would read or write out of bounds or
 * produce NaN, ecnet is stricter: a box with w < 0, h <= 0 or a value that
 * is not finite is skipped, and a class outside [0, classes) (after
 * Darknet's truncation to int) gets no class delta (the box and objectness
 * deltas are still set).  With ctx->truth NULL there is no loss and the
 * delta stays 0.  jitter and random are augmentation options of the
 * training loop, not of this layer.
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

typedef struct yolo_params {
    int classes;
    int total;       /* anchors listed in the cfg (num) */
    int n;           /* anchors this head predicts: len(mask) */
    int *mask;       /* n indices into the anchors */
    float *biases;   /* 2*total: anchor width, height in input pixels */
    int max_boxes;   /* training only, as the rest of this line and the next */
    int random;
    int net_w, net_h; /* network input size (the anchors are in its pixels) */
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

    long long need = (long long)p->n * (5LL + p->classes); /* no int overflow for hostile sizes */
    if (b->input.c != need)
        ecn_opt_fail(o, NULL,
                     "the layer before gives %d channels, but %d anchors (mask) x (4 box + 1 "
                     "objectness + %d classes) need %lld: set filters=%lld in the [convolutional] "
                     "before this [yolo]",
                     b->input.c, p->n, p->classes, need, need);
    else if (b->input.w <= 0 || b->input.h <= 0)
        ecn_opt_fail(o, NULL, "empty input (%d x %d)", b->input.w, b->input.h);
    if (o->failed) goto fail;

    p->net_w = b->net_input.w;
    p->net_h = b->net_input.h;
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

/* ---- training ---------------------------------------------------------- */

/* Box of anchor `a` (index into biases) at cell (i, j); e points at its
 * entry 0, entries wh apart (Darknet's get_yolo_box, float for float). */
static ecn_box yolo_box(const yolo_params *p, const float *e, size_t wh, int a, int i, int j,
                        int w, int h)
{
    ecn_box bx;
    bx.x = (i + e[0]) / w;
    bx.y = (j + e[wh]) / h;
    bx.w = (float)(exp(e[2 * wh]) * p->biases[2 * a] / p->net_w);
    bx.h = (float)(exp(e[3 * wh]) * p->biases[2 * a + 1] / p->net_h);
    return bx;
}

/* Box deltas toward truth for anchor `a` at cell (i, j) (Darknet's
 * delta_yolo_box). */
static void yolo_box_delta(const yolo_params *p, ecn_box truth, const float *e, float *d,
                           size_t wh, int a, int i, int j, int w, int h, float scale)
{
    float tx = truth.x * w - i;
    float ty = truth.y * h - j;
    float tw = (float)log(truth.w * p->net_w / p->biases[2 * a]);
    float th = (float)log(truth.h * p->net_h / p->biases[2 * a + 1]);
    d[0] = scale * (tx - e[0]);
    d[wh] = scale * (ty - e[wh]);
    d[2 * wh] = scale * (tw - e[2 * wh]);
    d[3 * wh] = scale * (th - e[3 * wh]);
}

/* Class deltas (Darknet's delta_yolo_class); e and d point at class 0. */
static void yolo_class_delta(const float *e, float *d, size_t wh, int cls, int classes)
{
    if (cls < 0) return;
    if (d[0] != 0) {
        d[(size_t)cls * wh] = 1 - e[(size_t)cls * wh];
        return;
    }
    for (int k = 0; k < classes; k++) d[(size_t)k * wh] = (k == cls ? 1.f : 0.f) - e[(size_t)k * wh];
}

/* Position of anchor a in the mask, or -1. */
static int mask_index(const yolo_params *p, int a)
{
    for (int k = 0; k < p->n; k++)
        if (p->mask[k] == a) return k;
    return -1;
}

static void yolo_loss(ecn_layer *l, const ecn_ctx *ctx)
{
    const yolo_params *p = l->p;
    l->loss = 0;
    if (!ctx->truth || !l->delta || ctx->truth_floats <= 0) return;
    const int w = l->out.w, h = l->out.h;
    const size_t outputs = ecn_layer_outputs(l), wh = (size_t)w * h;
    const size_t per_anchor = wh * (4 + 1 + (size_t)p->classes);
    int max_boxes = ctx->truth_floats / 5;
    if (p->max_boxes < max_boxes) max_boxes = p->max_boxes;

    for (int b = 0; b < l->batch; b++) {
        const float *out = l->output + (size_t)b * outputs;
        float *delta = l->delta + (size_t)b * outputs;
        const float *truth = ctx->truth + (size_t)b * ctx->truth_floats;

        /* 1: objectness everywhere (and the truth_thresh rule). */
        for (int j = 0; j < h; j++)
            for (int i = 0; i < w; i++)
                for (int n = 0; n < p->n; n++) {
                    size_t base = n * per_anchor + (size_t)j * w + i;
                    ecn_box pred = yolo_box(p, out + base, wh, p->mask[n], i, j, w, h);
                    float best_iou = 0;
                    int best_t = 0;
                    for (int t = 0; t < max_boxes; t++) {
                        ecn_box tb;
                        int r = ecn_truth_box(truth + 5 * t, &tb);
                        if (r == 0) break;
                        if (r < 0) continue;
                        float iou = ecn_box_iou(pred, tb);
                        if (iou > best_iou) {
                            best_iou = iou;
                            best_t = t;
                        }
                    }
                    size_t obj = base + 4 * wh;
                    delta[obj] = 0 - out[obj];
                    if (best_iou > p->ignore_thresh) delta[obj] = 0;
                    if (best_iou > p->truth_thresh && best_iou > 0) { /* 0: no truth here */
                        const float *tr = truth + 5 * best_t;
                        ecn_box tb = {tr[0], tr[1], tr[2], tr[3]};
                        delta[obj] = 1 - out[obj];
                        yolo_class_delta(out + base + 5 * wh, delta + base + 5 * wh, wh,
                                         ecn_truth_class(tr[4], p->classes), p->classes);
                        yolo_box_delta(p, tb, out + base, delta + base, wh, p->mask[n], i, j, w, h,
                                       2 - tb.w * tb.h);
                    }
                }

        /* 2: each truth box trains the best anchor, if this head owns it. */
        for (int t = 0; t < max_boxes; t++) {
            const float *tr = truth + 5 * t;
            ecn_box tb;
            int r = ecn_truth_box(tr, &tb);
            if (r == 0) break;
            if (r < 0) continue;
            ecn_box shift = {0, 0, tb.w, tb.h};
            float best_iou = 0;
            int best_a = 0;
            for (int a = 0; a < p->total; a++) {
                ecn_box anchor = {0, 0, p->biases[2 * a] / p->net_w,
                                  p->biases[2 * a + 1] / p->net_h};
                float iou = ecn_box_iou(anchor, shift);
                if (iou > best_iou) {
                    best_iou = iou;
                    best_a = a;
                }
            }
            int m = mask_index(p, best_a);
            if (m < 0) continue;
            int i = ecn_truth_cell(tb.x, w), j = ecn_truth_cell(tb.y, h);
            size_t base = m * per_anchor + (size_t)j * w + i;
            yolo_box_delta(p, tb, out + base, delta + base, wh, best_a, i, j, w, h,
                           2 - tb.w * tb.h);
            delta[base + 4 * wh] = 1 - out[base + 4 * wh];
            yolo_class_delta(out + base + 5 * wh, delta + base + 5 * wh, wh,
                             ecn_truth_class(tr[4], p->classes), p->classes);
        }
    }

    double loss = 0;
    for (size_t k = 0; k < (size_t)l->batch * outputs; k++) loss += (double)l->delta[k] * l->delta[k];
    l->loss = (float)loss;
}

static void yolo_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
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
    if (ctx && ctx->train) yolo_loss(l, ctx);
}

static void yolo_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                          const ecn_ctx *ctx)
{
    (void)in;
    (void)ctx;
    if (in_delta[0]) ecn_axpy((size_t)l->batch * ecn_layer_outputs(l), 1, l->delta, in_delta[0]);
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

/* ---- GPU inference: copy (unless in place), then the logistic on every
 * entry but tw, th (cuda/yolo.cu).  Decoding the boxes stays on the host,
 * which gets this layer's output after the forward pass. */
#ifdef ECN_GPU
static int yolo_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    const yolo_params *p = l->p;
    size_t bytes = ecn_layer_outputs(l) * (size_t)l->batch * sizeof(float);
    if (ecn_gpu_copy(l->gpu.output, in[0], bytes, err)) return -1;
    return ecn_gpu_yolo_activate(l->gpu.output, l->batch, p->n, l->out.w * l->out.h, p->classes, err);
}
#endif

const ecn_layer_ops ecn_yolo_ops = {
    .name = "yolo",
    .make = yolo_make,
    .forward = yolo_forward,
    .backward = yolo_backward,
    .flops = yolo_flops,
    .describe = yolo_describe,
    .destroy = yolo_destroy,
    .detections = yolo_detections,
    .max_detections = yolo_max_detections,
    .forward_gpu = ECN_GPU_OP(yolo_forward_gpu),
};
