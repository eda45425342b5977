/* upsample.c - [upsample]: nearest-neighbour enlargement.
 *
 *   out[c][y][x] = scale * in[c][y / stride][x / stride]     (integer division)
 *
 * out_w = w * stride, out_h = h * stride.  stride defaults to 2, scale to 1.
 * Darknet reads a negative stride as "downsample by -stride" (the reverse of
 * upsampling, a sum over each block); no shipped cfg uses it and it is not
 * supported here.
 *
 * Backward: each input feeds a stride x stride block of outputs, so
 *
 *   in_delta[c][y][x] += scale * sum over 0 <= dy, dx < stride of delta[c][y*stride+dy][x*stride+dx]
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/layer.h"

#ifdef ECN_GPU
#include "cuda/gpu.h"
#endif

typedef struct upsample_params {
    int stride;
    float scale;
} upsample_params;

static int upsample_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    int stride = ecn_opt_int(o, "stride", 2);
    float scale = ecn_opt_float(o, "scale", 1);
    if (o->failed) return -1;
    if (stride < 0) {
        ecn_opt_fail(o, "stride", "negative stride (downsampling) is not supported: expected "
                     "stride >= 1, got %d", stride);
        return -1;
    }
    if (stride == 0) {
        ecn_opt_fail(o, "stride", "expected stride >= 1, got 0");
        return -1;
    }
    ecn_shape in = l->in;
    if (in.w <= 0 || in.h <= 0 || in.c <= 0) {
        ecn_opt_fail(o, NULL, "upsample needs an image input, got %d x %d x %d", in.w, in.h, in.c);
        return -1;
    }
    /* In long long: in.w * stride overflows int for a stride near INT_MAX. */
    if ((long long)in.w * stride > (1 << 30) || (long long)in.h * stride > (1 << 30)) {
        ecn_opt_fail(o, "stride", "output of %lld x %lld is too large", (long long)in.w * stride,
                     (long long)in.h * stride);
        return -1;
    }
    upsample_params *p = calloc(1, sizeof *p);
    if (!p) {
        ecn_opt_fail(o, NULL, "out of memory");
        return -1;
    }
    p->stride = stride;
    p->scale = scale;
    l->p = p;
    l->out.c = in.c;
    l->out.w = in.w * stride;
    l->out.h = in.h * stride;
    return 0;
}

/* One plane: each input row is widened, then repeated `stride` times. */
static void upsample_plane(const upsample_params *p, const float *in, int w, int h, float *out)
{
    int s = p->stride, ow = w * s;
    for (int y = 0; y < h * s; y++) {
        const float *row = in + (size_t)(y / s) * w;
        float *dst = out + (size_t)y * ow;
        for (int x = 0; x < ow; x++) dst[x] = p->scale * row[x / s];
    }
}

static void upsample_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    size_t in_plane = (size_t)l->in.w * l->in.h, out_plane = (size_t)l->out.w * l->out.h;
    size_t planes = (size_t)l->batch * l->in.c;
    for (size_t t = 0; t < planes; t++)
        upsample_plane(l->p, in[0] + t * in_plane, l->in.w, l->in.h, l->output + t * out_plane);
}

/* The adjoint of upsample_plane: every output row adds into its input row. */
static void upsample_back_plane(const upsample_params *p, const float *delta, int w, int h,
                                float *in_delta)
{
    int s = p->stride, ow = w * s;
    for (int y = 0; y < h * s; y++) {
        float *row = in_delta + (size_t)(y / s) * w;
        const float *src = delta + (size_t)y * ow;
        for (int x = 0; x < ow; x++) row[x / s] += p->scale * src[x];
    }
}

static void upsample_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                              const ecn_ctx *ctx)
{
    (void)in;
    (void)ctx;
    if (!in_delta[0]) return;
    size_t in_plane = (size_t)l->in.w * l->in.h, out_plane = (size_t)l->out.w * l->out.h;
    size_t planes = (size_t)l->batch * l->in.c;
    for (size_t t = 0; t < planes; t++)
        upsample_back_plane(l->p, l->delta + t * out_plane, l->in.w, l->in.h,
                            in_delta[0] + t * in_plane);
}

static void upsample_describe(const ecn_layer *l, char *buf, size_t n)
{
    const upsample_params *p = l->p;
    snprintf(buf, n, "%dx", p->stride);
}

static void upsample_destroy(ecn_layer *l)
{
    free(l->p);
    l->p = NULL;
}

/* ---- GPU inference: one thread per output (cuda/resample.cu). */
#ifdef ECN_GPU
static int upsample_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    const upsample_params *p = l->p;
    return ecn_gpu_upsample(in[0], l->batch * l->in.c, l->in.h, l->in.w, p->stride, p->scale, l->gpu.output, err);
}
#endif

const ecn_layer_ops ecn_upsample_ops = {
    .name = "upsample",
    .make = upsample_make,
    .forward = upsample_forward,
    .backward = upsample_backward,
    .describe = upsample_describe,
    .destroy = upsample_destroy,
    .forward_gpu = ECN_GPU_OP(upsample_forward_gpu),
};
