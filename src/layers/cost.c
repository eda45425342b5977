/* cost.c - [cost]: the training loss at the end of a network.
 *
 * The layer passes its input through unchanged (out = in; at inference the
 * output usually aliases the input, otherwise it is copied).  While training
 * with a truth t meant for this layer (as many floats per image as the layer
 * has inputs; otherwise no loss is computed) it measures the error of the
 * input x, value by value, with d = t - x:
 *
 *   type    error               delta
 *   sse     d^2                 d
 *   masked  d^2                 d      (0 for both where t is Darknet's mask value -1234)
 *   smooth  d^2      if |d| < 1 d
 *           2|d| - 1 otherwise  sign(d)
 *   L1      |d|                 sign(d)
 *
 *   loss = sum of the errors over the batch
 *
 * The delta is Darknet's: for the squared terms it is half of -dLoss/dx
 * (the learning rates of Darknet cfgs assume that).  Darknet's CPU smooth L1
 * gives -sign(d) in its linear part, a sign error not copied here.
 *
 * Backward: in_delta += scale * delta.  ratio, noobj and thresh are read for
 * Darknet compatibility; like Darknet's CPU path, training ignores them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "cpu/blas.h"

typedef enum { COST_SSE, COST_MASKED, COST_SMOOTH, COST_L1 } cost_type;

#define COST_MASK_VALUE -1234.f /* Darknet's SECRET_NUM: "no truth here" */

static const char *const cost_names[] = {
    [COST_SSE] = "sse", [COST_MASKED] = "masked", [COST_SMOOTH] = "smooth", [COST_L1] = "L1"};

typedef struct cost_params {
    cost_type type;
    float scale, ratio, noobj, thresh;
} cost_params;

static int parse_cost_type(ecn_opts *o, cost_type *t)
{
    const char *name = ecn_opt_str(o, "type", "sse");
    if (o->failed) return -1;
    for (int i = 0; i < (int)(sizeof cost_names / sizeof cost_names[0]); i++)
        if (strcmp(name, cost_names[i]) == 0) {
            *t = (cost_type)i;
            return 0;
        }
    if (strcmp(name, "seg") == 0 || strcmp(name, "wgan") == 0)
        ecn_opt_fail(o, "type", "cost type \"%s\" is not supported: expected sse, masked, smooth "
                     "or L1", name);
    else
        ecn_opt_fail(o, "type", "unknown cost type \"%s\": expected sse, masked, smooth or L1",
                     name);
    return -1;
}

static int cost_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    cost_params pp;
    if (parse_cost_type(o, &pp.type) < 0) return -1;
    pp.scale = ecn_opt_float(o, "scale", 1);
    pp.ratio = ecn_opt_float(o, "ratio", 0);
    pp.noobj = ecn_opt_float(o, "noobj", 1);
    pp.thresh = ecn_opt_float(o, "thresh", 0);
    if (o->failed) return -1;
    if (ecn_layer_inputs(l) == 0) {
        ecn_opt_fail(o, NULL, "cost needs a non-empty input");
        return -1;
    }
    cost_params *p = malloc(sizeof *p);
    if (!p) {
        ecn_opt_fail(o, NULL, "out of memory");
        return -1;
    }
    *p = pp;
    l->p = p;
    l->out = l->in;
    l->in_place = 1;
    return 0;
}

static float sign(float d) { return d > 0 ? 1.f : d < 0 ? -1.f : 0.f; }

/* Error of one value (returned) and its delta, for d = t - x. */
static float cost_value(cost_type type, float d, float *delta)
{
    float a = fabsf(d);
    if (type == COST_L1 || (type == COST_SMOOTH && a >= 1)) {
        *delta = sign(d);
        return type == COST_L1 ? a : 2 * a - 1;
    }
    *delta = d;
    return d * d;
}

/* The loss against the truth, if it is meant for this layer. */
static void cost_loss(ecn_layer *l, const float *x, const ecn_ctx *ctx)
{
    const cost_params *p = l->p;
    size_t inputs = ecn_layer_inputs(l), n = (size_t)l->batch * inputs;
    l->loss = 0;
    if (!ctx->truth || !l->delta || (size_t)ctx->truth_floats != inputs) return;
    double loss = 0;
    for (size_t i = 0; i < n; i++) {
        float t = ctx->truth[i];
        if (p->type == COST_MASKED && t == COST_MASK_VALUE) {
            l->delta[i] = 0;
            continue;
        }
        loss += cost_value(p->type, t - x[i], &l->delta[i]);
    }
    l->loss = (float)loss;
}

/* Identity (a no-op when the output aliases the input), and the loss while
 * training. */
static void cost_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    ecn_copy(in[0], (size_t)l->batch * ecn_layer_outputs(l), l->output);
    if (ctx && ctx->train) cost_loss(l, in[0], ctx);
}

static void cost_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                          const ecn_ctx *ctx)
{
    (void)in;
    (void)ctx;
    const cost_params *p = l->p;
    if (in_delta[0]) ecn_axpy((size_t)l->batch * ecn_layer_inputs(l), p->scale, l->delta, in_delta[0]);
}

static void cost_describe(const ecn_layer *l, char *buf, size_t n)
{
    const cost_params *p = l->p;
    snprintf(buf, n, "%s", cost_names[p->type]);
}

static void cost_destroy(ecn_layer *l)
{
    free(l->p);
    l->p = NULL;
}

const ecn_layer_ops ecn_cost_ops = {
    .name = "cost",
    .make = cost_make,
    .forward = cost_forward,
    .backward = cost_backward,
    .describe = cost_describe,
    .destroy = cost_destroy,
    .forward_gpu = ECN_GPU_OP(ecn_gpu_forward_copy), /* the identity at inference */
};
