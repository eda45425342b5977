/* reorg.c - [reorg]: Darknet's space-to-depth, exactly as Darknet does it.
 *
 * With the input's w, h, c, s = stride and c2 = c / (s*s), for every input
 * position (k, j, i):
 *
 *   offset = k / c2,   w2 = i*s + offset % s,   h2 = j*s + offset / s
 *   out[k][j][i] = in[k % c2][h2][w2]        (in read as (w*s) x (h*s) x c2)
 *
 * and reverse=1 writes the other way round:  out[k % c2][h2][w2] = in[k][j][i]
 * (out read as (w*s) x (h*s) x c2).
 *
 * The forward case is NOT a plain space-to-depth: it indexes the input as if
 * it were (w*s) x (h*s) x c2 and writes the output as w x h x c, which the
 * next layer then reads as (w/s) x (h/s) x (c*s*s).  yolov2.cfg's passthrough
 * (26x26x64 -> 13x13x256) was trained with exactly this shuffle.
 *
 *   forward: out = (w/s) x (h/s) x (c*s*s)     reverse: out = (w*s) x (h*s) x (c/(s*s))
 *
 * Backward: the map is a permutation, so its adjoint sends each delta back
 * along the same pair (a, z):
 *
 *   forward:  in_delta[z] += delta[a]        reverse:  in_delta[a] += delta[z]
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/layer.h"

#ifdef ECN_GPU
#include "cuda/gpu.h"
#endif

typedef struct reorg_params {
    int stride, reverse;
} reorg_params;

static int reorg_check(ecn_opts *o, ecn_shape in, int s, int reverse)
{
    if (in.w <= 0 || in.h <= 0 || in.c <= 0) {
        ecn_opt_fail(o, NULL, "reorg needs an image input, got %d x %d x %d", in.w, in.h, in.c);
        return -1;
    }
    long long ss = (long long)s * s; /* s * s overflows int for s > 46340 */
    if (in.c % ss != 0) {
        ecn_opt_fail(o, "stride", "expected the %d input channels to be a multiple of stride^2 = %lld",
                     in.c, ss);
        return -1;
    }
    if (!reverse && (in.w % s != 0 || in.h % s != 0)) {
        ecn_opt_fail(o, "stride", "expected the %d x %d input to be divisible by stride %d", in.w,
                     in.h, s);
        return -1;
    }
    return 0;
}

static int reorg_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    int s = ecn_opt_int(o, "stride", 1);
    int reverse = ecn_opt_int(o, "reverse", 0);
    int flatten = ecn_opt_int(o, "flatten", 0);
    int extra = ecn_opt_int(o, "extra", 0);
    if (o->failed) return -1;
    if (flatten) {
        ecn_opt_fail(o, "flatten", "flatten is not supported: expected flatten=0");
        return -1;
    }
    if (extra) {
        ecn_opt_fail(o, "extra", "extra is not supported: expected extra=0");
        return -1;
    }
    if (s <= 0) {
        ecn_opt_fail(o, "stride", "expected stride >= 1, got %d", s);
        return -1;
    }
    if (reorg_check(o, l->in, s, reverse) < 0) return -1;

    reorg_params *p = calloc(1, sizeof *p);
    if (!p) {
        ecn_opt_fail(o, NULL, "out of memory");
        return -1;
    }
    p->stride = s;
    p->reverse = reverse != 0;
    l->p = p;
    ecn_shape in = l->in;
    if (p->reverse) {
        l->out.w = in.w * s;
        l->out.h = in.h * s;
        l->out.c = in.c / (s * s);
    } else {
        l->out.w = in.w / s;
        l->out.h = in.h / s;
        l->out.c = in.c * s * s;
    }
    return 0;
}

/* Darknet's index pair for input position (i, j, k) of one image: `a` in the
 * w x h x c layout, `z` in the (w*s) x (h*s) x (c/(s*s)) layout. */
static void reorg_pair(ecn_shape in, int s, int i, int j, int k, size_t *a, size_t *z)
{
    int c2 = in.c / (s * s);
    int offset = k / c2;
    size_t w2 = (size_t)i * s + offset % s;
    size_t h2 = (size_t)j * s + offset / s;
    *a = i + (size_t)in.w * (j + (size_t)in.h * k);
    *z = w2 + (size_t)in.w * s * (h2 + (size_t)in.h * s * (k % c2));
}

static void reorg_image(const reorg_params *p, ecn_shape in, const float *x, float *out)
{
    for (int k = 0; k < in.c; k++)
        for (int j = 0; j < in.h; j++)
            for (int i = 0; i < in.w; i++) {
                size_t a, z;
                reorg_pair(in, p->stride, i, j, k, &a, &z);
                if (p->reverse)
                    out[z] = x[a];
                else
                    out[a] = x[z];
            }
}

static void reorg_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    size_t n = ecn_layer_inputs(l); /* the same as the outputs */
    for (int b = 0; b < l->batch; b++)
        reorg_image(l->p, l->in, in[0] + b * n, l->output + b * n);
}

/* The adjoint of reorg_image: delta flows from output index to input index. */
static void reorg_back_image(const reorg_params *p, ecn_shape in, const float *delta,
                             float *in_delta)
{
    for (int k = 0; k < in.c; k++)
        for (int j = 0; j < in.h; j++)
            for (int i = 0; i < in.w; i++) {
                size_t a, z;
                reorg_pair(in, p->stride, i, j, k, &a, &z);
                if (p->reverse)
                    in_delta[a] += delta[z];
                else
                    in_delta[z] += delta[a];
            }
}

static void reorg_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                           const ecn_ctx *ctx)
{
    (void)in;
    (void)ctx;
    if (!in_delta[0]) return;
    size_t n = ecn_layer_inputs(l);
    for (int b = 0; b < l->batch; b++)
        reorg_back_image(l->p, l->in, l->delta + b * n, in_delta[0] + b * n);
}

/* Darknet prints "reorg              / 2". */
static void reorg_describe(const ecn_layer *l, char *buf, size_t n)
{
    const reorg_params *p = l->p;
    snprintf(buf, n, "/%2d", p->stride);
}

static void reorg_destroy(ecn_layer *l)
{
    free(l->p);
    l->p = NULL;
}

/* ---- GPU inference: one thread per input position (cuda/resample.cu). */
#ifdef ECN_GPU
static int reorg_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    const reorg_params *p = l->p;
    return ecn_gpu_reorg(in[0], l->batch, l->in, p->stride, p->reverse, l->gpu.output, err);
}
#endif

const ecn_layer_ops ecn_reorg_ops = {
    .name = "reorg",
    .make = reorg_make,
    .forward = reorg_forward,
    .backward = reorg_backward,
    .describe = reorg_describe,
    .destroy = reorg_destroy,
    .forward_gpu = ECN_GPU_OP(reorg_forward_gpu),
};
