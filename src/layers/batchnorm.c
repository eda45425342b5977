/* batchnorm.c - [batchnorm]: batch normalisation as a layer of its own.
 *
 * Inference, per channel c, with the statistics learnt in training:
 *
 *   out = scale[c] * (x - mean[c]) / (sqrt(var[c]) + eps) + bias[c]
 *
 * eps = ECN_BN_EPS is added to the standard deviation, not to the variance,
 * as Darknet does.  The shape is unchanged; the section has no options.
 * The .weights file holds scale[c], mean[c], var[c] (in that order); bias is
 * not in the file and stays zero, as in Darknet.
 */
#include <stdlib.h>

#include "core/layer.h"
#include "cpu/blas.h"

typedef struct batchnorm_params {
    int c;
    float *scales, *biases, *mean, *var; /* one block of 4*c floats */
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

static void batchnorm_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    const batchnorm_params *p = l->p;
    int spatial = l->out.w * l->out.h;
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

static void batchnorm_destroy(ecn_layer *l)
{
    batchnorm_params *p = l->p;
    if (p) free(p->scales);
    free(p);
    l->p = NULL;
}

const ecn_layer_ops ecn_batchnorm_ops = {
    .name = "batchnorm",
    .make = batchnorm_make,
    .forward = batchnorm_forward,
    .load = batchnorm_load,
    .save = batchnorm_save,
    .randomize = batchnorm_randomize,
    .param_count = batchnorm_param_count,
    .destroy = batchnorm_destroy,
};
