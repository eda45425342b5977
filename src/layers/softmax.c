/* softmax.c - [softmax]: normalised exponentials.
 *
 * The inputs of each image are split into `groups` runs of n = inputs/groups
 * consecutive values; each run becomes
 *
 *   out[i] = exp((x[i] - max) / T) / sum over j of exp((x[j] - max) / T)
 *
 * with T = temperature (default 1) and max the run's largest value (which
 * changes nothing mathematically and keeps exp from overflowing).  The shape
 * is unchanged.  Darknet's hierarchical softmax (tree=file) is not supported.
 *
 * Training with a truth t (the network's truth must be meant for this layer:
 * as many floats per image as the layer has outputs; otherwise, or with
 * noloss=1, no loss is computed here), as Darknet's softmax_x_ent:
 *
 *   loss = -sum t[i] * log(out[i])          (summed over the batch)
 * both scaled by the layer's loss_weight (an early exit's weight in the
 * joint BranchyNet loss; 1 for every other softmax).
 *   delta[i] = t[i] - out[i]
 *
 * t - out is already -dLoss/dx with respect to the softmax INPUT (the
 * softmax Jacobian cancels against the log), so backward just adds it:
 * in_delta += delta (Darknet does the same, and ignores the temperature,
 * whose exact gradient would be (t - out) / T).
 *
 * When this layer computed no loss, its delta (-dL/dout, from the layers
 * after it) goes through the true Jacobian, run by run:
 *
 *   in_delta[i] += out[i] * (delta[i] - sum_j out[j] * delta[j]) / T
 *
 * (Darknet would add delta unchanged there as well, which is only right for
 * its own cross-entropy.)
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/layer.h"
#include "cpu/blas.h"

#ifdef ECN_GPU
#include "cuda/gpu.h"
#endif

typedef struct softmax_params {
    int groups;
    float temperature;
    int spatial;  /* read for Darknet compatibility (its CPU path ignores it too) */
    int noloss;   /* training: never compute a loss here */
    int own_loss; /* the last training forward computed the loss (delta = t - out) */
} softmax_params;

static int softmax_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    softmax_params pp = {0};
    pp.groups = ecn_opt_int(o, "groups", 1);
    pp.temperature = ecn_opt_float(o, "temperature", 1);
    const char *tree = ecn_opt_str(o, "tree", NULL);
    pp.spatial = (int)ecn_opt_float(o, "spatial", 0); /* Darknet reads it as a float */
    pp.noloss = ecn_opt_int(o, "noloss", 0);
    if (o->failed) return -1;
    if (tree) {
        ecn_opt_fail(o, "tree", "hierarchical softmax (tree=%s) is not supported", tree);
        return -1;
    }
    size_t inputs = ecn_layer_inputs(l);
    if (inputs == 0) {
        ecn_opt_fail(o, NULL, "softmax needs a non-empty input");
        return -1;
    }
    if (pp.groups <= 0 || inputs % (size_t)pp.groups != 0) {
        ecn_opt_fail(o, "groups", "expected a positive divisor of the %zu inputs, got %d", inputs,
                     pp.groups);
        return -1;
    }
    if (pp.temperature == 0) {
        ecn_opt_fail(o, "temperature", "expected a non-zero temperature");
        return -1;
    }
    softmax_params *p = malloc(sizeof *p);
    if (!p) {
        ecn_opt_fail(o, NULL, "out of memory");
        return -1;
    }
    *p = pp;
    l->p = p;
    l->out = l->in;
    return 0;
}

/* Cross-entropy against the truth, if it is meant for this layer. */
static void softmax_loss(ecn_layer *l, const ecn_ctx *ctx)
{
    softmax_params *p = l->p;
    size_t outputs = ecn_layer_outputs(l), n = (size_t)l->batch * outputs;
    l->loss = 0;
    p->own_loss = 0;
    if (!ctx->truth || p->noloss || !l->delta || (size_t)ctx->truth_floats != outputs) return;
    double loss = 0;
    float w = l->loss_weight; /* an early exit's share of the joint loss; 1 elsewhere */
    for (size_t i = 0; i < n; i++) {
        float t = ctx->truth[i], y = l->output[i];
        l->delta[i] = w * (t - y);
        if (t != 0) loss -= t * log(y > FLT_MIN ? y : FLT_MIN); /* no infinite loss at y = 0 */
    }
    l->loss = (float)(w * loss);
    p->own_loss = 1;
}

static void softmax_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    const softmax_params *p = l->p;
    size_t n = ecn_layer_inputs(l) / (size_t)p->groups;
    size_t runs = (size_t)l->batch * (size_t)p->groups;
    for (size_t r = 0; r < runs; r++)
        ecn_softmax(in[0] + r * n, (int)n, p->temperature, 1, l->output + r * n);
    if (ctx && ctx->train) softmax_loss(l, ctx);
}

/* in_delta += J^T delta for one run of n values: y (d - y.d) / T. */
static void softmax_back_run(const float *y, const float *d, size_t n, float temp, float *in_delta)
{
    double dot = 0;
    for (size_t i = 0; i < n; i++) dot += (double)y[i] * d[i];
    for (size_t i = 0; i < n; i++) in_delta[i] += y[i] * (d[i] - (float)dot) / temp;
}

static void softmax_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                             const ecn_ctx *ctx)
{
    (void)in;
    (void)ctx;
    const softmax_params *p = l->p;
    if (!in_delta[0]) return;
    if (p->own_loss) {
        ecn_axpy((size_t)l->batch * ecn_layer_outputs(l), 1, l->delta, in_delta[0]);
        return;
    }
    size_t n = ecn_layer_inputs(l) / (size_t)p->groups;
    size_t runs = (size_t)l->batch * (size_t)p->groups;
    for (size_t r = 0; r < runs; r++)
        softmax_back_run(l->output + r * n, l->delta + r * n, n, p->temperature,
                         in_delta[0] + r * n);
}

static void softmax_describe(const ecn_layer *l, char *buf, size_t n)
{
    const softmax_params *p = l->p;
    if (p->groups > 1)
        snprintf(buf, n, "%d groups", p->groups);
    else if (n)
        buf[0] = 0;
}

static void softmax_destroy(ecn_layer *l)
{
    free(l->p);
    l->p = NULL;
}

/* ---- GPU inference: one warp per run (cuda/softmax.cu). */
#ifdef ECN_GPU
static int softmax_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    const softmax_params *p = l->p;
    int n = (int)(ecn_layer_inputs(l) / (size_t)p->groups);
    ecn_gpu_runs runs = {n, 1, l->batch * p->groups, (size_t)n, 1};
    return ecn_gpu_softmax(in[0], l->gpu.output, runs, p->temperature, err);
}
#endif

const ecn_layer_ops ecn_softmax_ops = {
    .name = "softmax",
    .make = softmax_make,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .describe = softmax_describe,
    .destroy = softmax_destroy,
    .forward_gpu = ECN_GPU_OP(softmax_forward_gpu),
};
