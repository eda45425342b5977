/* maxpool.c - [maxpool]: the largest value in each window.
 *
 *   out[c][oy][ox] = max  in[c][oy*stride - pad/2 + dy][ox*stride - pad/2 + dx]
 *                  0 <= dy, dx < size
 *
 *   out_w = (w + pad - size) / stride + 1   (the same for h; c is unchanged)
 *
 * Window positions that fall outside the input are skipped, as if they held
 * -infinity (a window with no position inside gives -FLT_MAX, as Darknet).
 * The default pad = size - 1 keeps 13x13 at 13x13 for size 2, stride 1
 * (yolov3-tiny) and size 5/9/13, stride 1 (yolov3-spp).
 *
 * Training: the forward pass also records, for every output, which input
 * position won (the first of equal values, scanning rows then columns; -1 for
 * a window entirely outside the input).  The gradient of a max is 1 for the
 * winner and 0 for the rest, so backward routes each output's delta there:
 *
 *   in_delta[c][argmax(c, oy, ox)] += delta[c][oy][ox]
 *
 * (overlapping windows can send several deltas to one input: they add up).
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/layer.h"

#ifdef ECN_GPU
#include "cuda/gpu.h"
#endif

typedef struct maxpool_params {
    int size, stride, pad;
    int *argmax; /* training: batch * outputs winners (index in the input plane) */
} maxpool_params;

static int maxpool_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    int stride = ecn_opt_int(o, "stride", 1);
    int size = ecn_opt_int(o, "size", stride);
    int pad = ecn_opt_int(o, "padding", size > 0 ? size - 1 : 0); /* size - 1 overflows for INT_MIN */
    if (o->failed) return -1;

    if (stride <= 0) {
        ecn_opt_fail(o, "stride", "expected stride >= 1, got %d", stride);
        return -1;
    }
    if (size <= 0) {
        ecn_opt_fail(o, "size", "expected size >= 1, got %d", size);
        return -1;
    }
    if (pad < 0) {
        ecn_opt_fail(o, "padding", "expected padding >= 0, got %d", pad);
        return -1;
    }
    ecn_shape in = l->in;
    if (in.w <= 0 || in.h <= 0 || in.c <= 0) {
        ecn_opt_fail(o, NULL, "maxpool needs an image input, got %d x %d x %d", in.w, in.h, in.c);
        return -1;
    }
    /* In long long: in.w + pad overflows int for padding near INT_MAX. */
    long long out_w = ((long long)in.w + pad - size) / stride + 1;
    long long out_h = ((long long)in.h + pad - size) / stride + 1;
    if (out_w <= 0 || out_h <= 0) {
        ecn_opt_fail(o, "size", "window %d (padding %d) is larger than the %d x %d input", size,
                     pad, in.w, in.h);
        return -1;
    }
    if (out_w > (1 << 30) || out_h > (1 << 30)) {
        ecn_opt_fail(o, "padding", "output of %lld x %lld is too large", out_w, out_h);
        return -1;
    }
    l->out.c = in.c;
    l->out.w = (int)out_w;
    l->out.h = (int)out_h;

    maxpool_params *p = calloc(1, sizeof *p);
    if (!p) {
        ecn_opt_fail(o, NULL, "out of memory");
        return -1;
    }
    p->size = size;
    p->stride = stride;
    p->pad = pad;
    l->p = p;
    return 0;
}

/* The window [start, start+size) clipped to [0, n). */
static void clip_window(int start, int size, int n, int *lo, int *hi)
{
    *lo = start < 0 ? 0 : start;
    *hi = start + size > n ? n : start + size;
}

/* One input plane (w x h) to one output plane; argmax (NULL at inference)
 * receives each output's winning position in the plane. */
static void maxpool_plane(const maxpool_params *p, const float *in, int w, int h, float *out,
                          int *argmax, int ow, int oh)
{
    int offset = -p->pad / 2;
    for (int oy = 0; oy < oh; oy++) {
        int y0, y1;
        clip_window(oy * p->stride + offset, p->size, h, &y0, &y1);
        for (int ox = 0; ox < ow; ox++) {
            int x0, x1;
            clip_window(ox * p->stride + offset, p->size, w, &x0, &x1);
            float best = -FLT_MAX;
            int best_i = -1;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    if (in[y * w + x] > best) best = in[y * w + x], best_i = y * w + x;
            out[oy * ow + ox] = best;
            if (argmax) argmax[oy * ow + ox] = best_i;
        }
    }
}

/* The common 2x2/2 window over an even-sized plane, at inference: every
 * window is whole, so the loop needs no clipping and vectorises. */
static void maxpool_plane_2x2(const float *in, int w, float *out, int ow, int oh)
{
    for (int oy = 0; oy < oh; oy++) {
        const float *r0 = in + (size_t)(2 * oy) * w, *r1 = r0 + w;
        float *o = out + (size_t)oy * ow;
        for (int ox = 0; ox < ow; ox++) {
            float a = r0[2 * ox] > r0[2 * ox + 1] ? r0[2 * ox] : r0[2 * ox + 1];
            float b = r1[2 * ox] > r1[2 * ox + 1] ? r1[2 * ox] : r1[2 * ox + 1];
            o[ox] = a > b ? a : b;
        }
    }
}

typedef struct maxpool_job {
    const ecn_layer *l;
    const float *in;
    int *argmax;    /* training forward: where the winners go (NULL otherwise) */
    float *in_delta; /* backward */
} maxpool_job;

/* Task t is plane t of the batch: image t / c, channel t % c. */
static void maxpool_task(void *arg, int task, int thread)
{
    (void)thread;
    const maxpool_job *job = arg;
    const ecn_layer *l = job->l;
    size_t in_plane = (size_t)l->in.w * l->in.h, out_plane = (size_t)l->out.w * l->out.h;
    const maxpool_params *p = l->p;
    if (!job->argmax && p->size == 2 && p->stride == 2 && p->pad / 2 == 0 && l->in.w % 2 == 0 &&
        l->in.h % 2 == 0) {
        maxpool_plane_2x2(job->in + task * in_plane, l->in.w, l->output + task * out_plane, l->out.w,
                          l->out.h);
        return;
    }
    maxpool_plane(l->p, job->in + task * in_plane, l->in.w, l->in.h,
                  l->output + task * out_plane, job->argmax ? job->argmax + task * out_plane : NULL,
                  l->out.w, l->out.h);
}

static void run_planes(const ecn_layer *l, const ecn_ctx *ctx, ecn_task_fn fn, maxpool_job *job)
{
    int planes = l->batch * l->out.c;
    if (ctx && ctx->pool)
        ecn_pool_run(ctx->pool, planes, fn, job);
    else
        for (int t = 0; t < planes; t++) fn(job, t, 0);
}

static void maxpool_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    const maxpool_params *p = l->p;
    maxpool_job job = {l, in[0], ctx && ctx->train ? p->argmax : NULL, NULL};
    run_planes(l, ctx, maxpool_task, &job);
}

/* ---- training ------------------------------------------------------- */

static int maxpool_train_begin(ecn_layer *l, ecn_err *err)
{
    maxpool_params *p = l->p;
    if (p->argmax) return 0;
    p->argmax = ecn_calloc((size_t)l->batch * ecn_layer_outputs(l), sizeof *p->argmax, err);
    return p->argmax ? 0 : -1;
}

/* Task t sends plane t's deltas to the winners (planes never share inputs). */
static void maxpool_back_task(void *arg, int task, int thread)
{
    (void)thread;
    const maxpool_job *job = arg;
    const ecn_layer *l = job->l;
    const maxpool_params *p = l->p;
    size_t in_plane = (size_t)l->in.w * l->in.h, out_plane = (size_t)l->out.w * l->out.h;
    const int *win = p->argmax + task * out_plane;
    const float *delta = l->delta + task * out_plane;
    float *in_delta = job->in_delta + task * in_plane;
    for (size_t o = 0; o < out_plane; o++)
        if (win[o] >= 0) in_delta[win[o]] += delta[o];
}

static void maxpool_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                             const ecn_ctx *ctx)
{
    (void)in;
    const maxpool_params *p = l->p;
    if (!in_delta[0] || !p->argmax) return;
    maxpool_job job = {l, NULL, NULL, in_delta[0]};
    run_planes(l, ctx, maxpool_back_task, &job);
}

static void maxpool_describe(const ecn_layer *l, char *buf, size_t n)
{
    const maxpool_params *p = l->p;
    snprintf(buf, n, "%d x %d / %d", p->size, p->size, p->stride);
}

static void maxpool_destroy(ecn_layer *l)
{
    maxpool_params *p = l->p;
    if (p) free(p->argmax);
    free(p);
    l->p = NULL;
}

/* ---- GPU inference: one thread per output (cuda/pool.cu). */
#ifdef ECN_GPU
static int maxpool_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    const maxpool_params *p = l->p;
    return ecn_gpu_maxpool(in[0], l->batch * l->in.c, l->in.h, l->in.w, p->size, p->stride, p->pad, l->out.h,
                           l->out.w, l->gpu.output, err);
}
#endif

const ecn_layer_ops ecn_maxpool_ops = {
    .name = "maxpool",
    .make = maxpool_make,
    .forward = maxpool_forward,
    .describe = maxpool_describe,
    .destroy = maxpool_destroy,
    .train_begin = maxpool_train_begin,
    .backward = maxpool_backward,
    .forward_gpu = ECN_GPU_OP(maxpool_forward_gpu),
};
