/* avgpool.c - [avgpool]: global average pooling.
 *
 *   out[c] = (1 / (h*w)) * sum over y < h, x < w of in[c][y][x]
 *
 * The output is 1 x 1 x c.  The section has no options.
 *
 * Backward: every input of a plane weighs 1/(h*w) in its mean, so
 *
 *   in_delta[c][y][x] += delta[c] / (h*w)
 */
#include <stdlib.h>

#include "core/layer.h"

#ifdef ECN_GPU
#include "cuda/gpu.h"
#endif

static int avgpool_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    ecn_shape in = l->in;
    if (in.w <= 0 || in.h <= 0 || in.c <= 0) {
        ecn_opt_fail(o, NULL, "avgpool needs an image input, got %d x %d x %d", in.w, in.h, in.c);
        return -1;
    }
    l->out.c = in.c;
    l->out.h = 1;
    l->out.w = 1;
    return 0;
}

/* Summed in order, then divided, as Darknet does (same rounding). */
static float plane_mean(const float *x, size_t n)
{
    float sum = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    return sum / (float)n;
}

static void avgpool_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    size_t plane = (size_t)l->in.w * l->in.h;
    size_t planes = (size_t)l->batch * l->in.c;
    for (size_t t = 0; t < planes; t++) l->output[t] = plane_mean(in[0] + t * plane, plane);
}

static void avgpool_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                             const ecn_ctx *ctx)
{
    (void)in;
    (void)ctx;
    if (!in_delta[0]) return;
    size_t plane = (size_t)l->in.w * l->in.h;
    size_t planes = (size_t)l->batch * l->in.c;
    for (size_t t = 0; t < planes; t++) {
        float d = l->delta[t] / (float)plane, *dst = in_delta[0] + t * plane;
        for (size_t i = 0; i < plane; i++) dst[i] += d;
    }
}

/* ---- GPU inference: one warp per plane (cuda/pool.cu). */
#ifdef ECN_GPU
static int avgpool_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    return ecn_gpu_avgpool(in[0], l->batch * l->in.c, l->in.w * l->in.h, l->gpu.output, err);
}
#endif

const ecn_layer_ops ecn_avgpool_ops = {
    .name = "avgpool",
    .make = avgpool_make,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .forward_gpu = ECN_GPU_OP(avgpool_forward_gpu),
};
