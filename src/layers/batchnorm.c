/* batchnorm.c - [batchnorm]: batch normalisation as a layer of its own.
 *
 * Inference, per channel c, with the statistics learnt in training:
 *
 *   out = scale[c] * (x - mean[c]) / (sqrt(var[c]) + eps) + bias[c]
 *
 * eps = ECN_BN_EPS is added to the standard deviation, not to the variance,
 * as Darknet does.  The shape is unchanged; the section has no options.
 * The .weights file holds scale[c], mean[c], var[c] (in that order); bias is
 * not in the file (it stays zero after loading, as in Darknet, but training
 * learns it).
 *
 * Training normalises with the statistics of the batch itself, over the
 * N = batch * h * w values of each channel (src/cpu/batchnorm.h has the
 * formulas: variance over N - 1, eps 1e-5 inside the root):
 *
 *   x_norm = (x - mean_batch) / sqrt(var_batch + 1e-5)
 *   out = scale * x_norm + bias
 *   rolling_mean = .99 rolling_mean + .01 mean_batch   (rolling_var likewise)
 *
 * Backward: bias_grad += sum delta, scale_grad += sum delta * x_norm, and
 * in_delta += the exact -dL/dx of the normalisation, the batch statistics'
 * dependence on x included (ecn_bn_backward).
 */
#include <stdlib.h>

#include "core/error.h"
#include "core/layer.h"
#include "cpu/batchnorm.h"
#include "cpu/blas.h"

#ifdef ECN_GPU
#include "cpu/activations.h"
#include "cuda/gpu.h"
#endif

typedef struct batchnorm_params {
    int c;
    float *scales, *biases, *mean, *var; /* one block of 4*c floats */
    /* training only (train_begin): */
    float *grads;  /* scale_grad[c], bias_grad[c] */
    float *x_norm; /* batch * c * h * w, then the batch's mean[c] and var[c] */
} batchnorm_params;

static int batchnorm_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    ecn_shape in = l->in;
    if (in.w <= 0 || in.h <= 0 || in.c <= 0) {
        ecn_opt_fail(o, NULL, "batchnorm needs an image input, got %d x %d x %d", in.w, in.h,
                     in.c);
        return -1;
    }
    batchnorm_params *p = calloc(1, sizeof *p);
    float *block = calloc(4 * (size_t)in.c, sizeof *block);
    if (!p || !block) {
        free(p);
        free(block);
        ecn_opt_fail(o, NULL, "out of memory");
        return -1;
    }
    p->c = in.c;
    p->scales = block;
    p->biases = block + in.c;
    p->mean = block + 2 * (size_t)in.c;
    p->var = block + 3 * (size_t)in.c;
    ecn_fill(p->scales, (size_t)in.c, 1);
    ecn_fill(p->var, (size_t)in.c, 1);
    l->p = p;
    l->out = in;
    return 0;
}

/* The batch's own statistics; x (the input) stays for backward. */
static void batchnorm_train_forward(ecn_layer *l, const float *x)
{
    const batchnorm_params *p = l->p;
    int spatial = l->out.w * l->out.h;
    size_t n = (size_t)l->batch * ecn_layer_outputs(l);
    float *mean = p->x_norm + n, *var = mean + p->c;
    ecn_bn_statistics(x, l->batch, p->c, spatial, mean, var);
    ecn_bn_update_rolling(mean, var, p->c, p->mean, p->var);
    ecn_bn_normalize(x, mean, var, l->batch, p->c, spatial, p->x_norm);
    ecn_copy(p->x_norm, n, l->output);
    ecn_scale_bias(l->output, p->scales, l->batch, p->c, spatial);
    ecn_add_bias(l->output, p->biases, l->batch, p->c, spatial);
}

static void batchnorm_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    const batchnorm_params *p = l->p;
    int spatial = l->out.w * l->out.h;
    if (ctx && ctx->train && p->x_norm) {
        batchnorm_train_forward(l, in[0]);
        return;
    }
    ecn_copy(in[0], (size_t)l->batch * ecn_layer_outputs(l), l->output);
    ecn_normalize(l->output, p->mean, p->var, l->batch, p->c, spatial);
    ecn_scale_bias(l->output, p->scales, l->batch, p->c, spatial);
    ecn_add_bias(l->output, p->biases, l->batch, p->c, spatial);
}

static int batchnorm_load(ecn_layer *l, ecn_wfile *wf)
{
    batchnorm_params *p = l->p;
    size_t c = (size_t)p->c;
    if (ecn_wfile_read(wf, p->scales, c, "batch-norm scales") < 0) return -1;
    if (ecn_wfile_read(wf, p->mean, c, "batch-norm rolling mean") < 0) return -1;
    return ecn_wfile_read(wf, p->var, c, "batch-norm rolling variance");
}

static int batchnorm_save(const ecn_layer *l, ecn_wfile *wf)
{
    const batchnorm_params *p = l->p;
    size_t c = (size_t)p->c;
    if (ecn_wfile_write(wf, p->scales, c) < 0) return -1;
    if (ecn_wfile_write(wf, p->mean, c) < 0) return -1;
    return ecn_wfile_write(wf, p->var, c);
}

/* The identity: unit scale, zero bias, mean 0, variance 1. */
static void batchnorm_randomize(ecn_layer *l, unsigned long long *rng)
{
    (void)rng;
    batchnorm_params *p = l->p;
    size_t c = (size_t)p->c;
    ecn_fill(p->scales, c, 1);
    ecn_fill(p->biases, c, 0);
    ecn_fill(p->mean, c, 0);
    ecn_fill(p->var, c, 1);
}

/* Learnable: scales and biases (the rolling statistics are measured). */
static size_t batchnorm_param_count(const ecn_layer *l)
{
    const batchnorm_params *p = l->p;
    return 2 * (size_t)p->c;
}

/* ---- training ------------------------------------------------------- */

static int batchnorm_train_begin(ecn_layer *l, ecn_err *err)
{
    batchnorm_params *p = l->p;
    size_t n = (size_t)l->batch * ecn_layer_outputs(l);
    if (!p->grads) p->grads = ecn_calloc(2 * (size_t)p->c, sizeof *p->grads, err);
    if (!p->x_norm) p->x_norm = ecn_calloc(n + 2 * (size_t)p->c, sizeof *p->x_norm, err);
    return p->grads && p->x_norm ? 0 : -1;
}

static void batchnorm_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                               const ecn_ctx *ctx)
{
    (void)ctx;
    batchnorm_params *p = l->p;
    if (!p->x_norm) return;
    int spatial = l->out.w * l->out.h;
    size_t n = (size_t)l->batch * ecn_layer_outputs(l);
    const float *mean = p->x_norm + n, *var = mean + p->c;
    ecn_bias_backward(l->delta, l->batch, p->c, spatial, p->grads + p->c);
    ecn_bn_backward(in[0], p->x_norm, mean, var, p->scales, l->batch, p->c, spatial, l->delta,
                    p->grads);
    if (in_delta[0]) ecn_axpy(n, 1, l->delta, in_delta[0]);
}

static int batchnorm_params_list(ecn_layer *l, ecn_param *out, int max)
{
    batchnorm_params *p = l->p;
    size_t c = (size_t)p->c;
    if (!p->grads || max < 2) return 0;
    out[0] = (ecn_param){"scales", p->scales, p->grads, c, 0};
    out[1] = (ecn_param){"biases", p->biases, p->grads + c, c, 0};
    return 2;
}

static void batchnorm_destroy(ecn_layer *l)
{
    batchnorm_params *p = l->p;
    if (p) {
        free(p->scales);
        free(p->grads);
        free(p->x_norm);
    }
    free(p);
    l->p = NULL;
}

/* ---- GPU inference: out = scale * (in - mean) / (sqrt(var) + eps) + bias,
 * one fused pass (cuda/activations.cu); device parameters scales, biases,
 * rolling mean and variance. */
#ifdef ECN_GPU
static int batchnorm_gpu_params(const ecn_layer *l, const float **host, size_t *count)
{
    const batchnorm_params *p = l->p;
    const float *arrays[4] = {p->scales, p->biases, p->mean, p->var};
    for (int k = 0; k < 4; k++) host[k] = arrays[k], count[k] = (size_t)p->c;
    return 4;
}

static int batchnorm_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    const batchnorm_params *p = l->p;
    float *const *d = l->gpu.param;
    return ecn_gpu_bias_activate(in[0], l->gpu.output, d[1], d[0], d[2], d[3], l->batch, p->c, l->out.w * l->out.h,
                                 ECN_LINEAR, err);
}
#endif

const ecn_layer_ops ecn_batchnorm_ops = {
    .name = "batchnorm",
    .make = batchnorm_make,
    .forward = batchnorm_forward,
    .load = batchnorm_load,
    .save = batchnorm_save,
    .randomize = batchnorm_randomize,
    .param_count = batchnorm_param_count,
    .destroy = batchnorm_destroy,
    .train_begin = batchnorm_train_begin,
    .backward = batchnorm_backward,
    .params = batchnorm_params_list,
    .gpu_params = ECN_GPU_OP(batchnorm_gpu_params),
    .forward_gpu = ECN_GPU_OP(batchnorm_forward_gpu),
};
