/* dropout.c - [dropout]: random zeroing while training, identity otherwise.
 *
 *   training:  r = uniform [0, 1) per value;  dropped = r < p
 *              out = dropped ? 0 : in * 1/(1 - p)
 *   inference: out = in
 *
 * At inference the output is usually the input buffer itself (in_place), so
 * the forward pass does nothing; it copies when the planner could not alias
 * (and always in training, where every layer has its own output).
 * probability defaults to 0.5.  The random numbers come from the network's
 * training generator (ecn_net_set_seed makes a forward pass repeatable).
 *
 * Backward, with the multipliers of the last training forward kept in `keep`
 * (0 or 1/(1-p)):
 *
 *   in_delta[i] += keep[i] * delta[i]
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/layer.h"
#include "cpu/blas.h"

typedef struct dropout_params {
    float probability;
    float *keep; /* training: batch * inputs multipliers, 0 or 1/(1-p) */
} dropout_params;

static int dropout_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    float prob = ecn_opt_float(o, "probability", .5f);
    if (o->failed) return -1;
    if (!(prob >= 0 && prob < 1)) {
        ecn_opt_fail(o, "probability", "expected a probability in [0, 1), got %g", prob);
        return -1;
    }
    if (ecn_layer_inputs(l) == 0) {
        ecn_opt_fail(o, NULL, "dropout needs a non-empty input");
        return -1;
    }
    dropout_params *p = calloc(1, sizeof *p);
    if (!p) {
        ecn_opt_fail(o, NULL, "out of memory");
        return -1;
    }
    p->probability = prob;
    l->p = p;
    l->out = l->in;
    l->in_place = 1;
    return 0;
}

/* Training: draw the mask and apply it (works in place as well). */
static void dropout_train_forward(ecn_layer *l, const float *in, const ecn_ctx *ctx)
{
    const dropout_params *p = l->p;
    float scale = 1.f / (1.f - p->probability);
    size_t n = (size_t)l->batch * ecn_layer_outputs(l);
    for (size_t i = 0; i < n; i++) {
        float r = ctx->rng ? ecn_rng_uniform(ctx->rng) : 1; /* no generator: keep all */
        p->keep[i] = r < p->probability ? 0 : scale;
        l->output[i] = in[i] * p->keep[i];
    }
}

/* Inference: identity.  The planner aliases output and input, so the copy
 * below only runs if it could not. */
static void dropout_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    const dropout_params *p = l->p;
    if (ctx && ctx->train && p->keep)
        dropout_train_forward(l, in[0], ctx);
    else
        ecn_copy(in[0], (size_t)l->batch * ecn_layer_outputs(l), l->output);
}

static int dropout_train_begin(ecn_layer *l, ecn_err *err)
{
    dropout_params *p = l->p;
    if (p->keep) return 0;
    p->keep = ecn_calloc((size_t)l->batch * ecn_layer_outputs(l), sizeof *p->keep, err);
    return p->keep ? 0 : -1;
}

static void dropout_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                             const ecn_ctx *ctx)
{
    (void)in;
    (void)ctx;
    const dropout_params *p = l->p;
    if (!in_delta[0] || !p->keep) return;
    size_t n = (size_t)l->batch * ecn_layer_outputs(l);
    for (size_t i = 0; i < n; i++) in_delta[0][i] += p->keep[i] * l->delta[i];
}

static void dropout_describe(const ecn_layer *l, char *buf, size_t n)
{
    const dropout_params *p = l->p;
    snprintf(buf, n, "p = %.2f", p->probability);
}

static void dropout_destroy(ecn_layer *l)
{
    dropout_params *p = l->p;
    if (p) free(p->keep);
    free(p);
    l->p = NULL;
}

const ecn_layer_ops ecn_dropout_ops = {
    .name = "dropout",
    .make = dropout_make,
    .forward = dropout_forward,
    .describe = dropout_describe,
    .destroy = dropout_destroy,
    .train_begin = dropout_train_begin,
    .backward = dropout_backward,
    .forward_gpu = ECN_GPU_OP(ecn_gpu_forward_copy), /* the identity at inference */
};
