/* dropout.c - [dropout]: random zeroing while training, identity otherwise.
 *
 *   training:  out = mask * in / (1 - p),  mask[i] = 0 with probability p
 *   inference: out = in
 *
 * At inference the output is the input buffer itself (in_place), so the
 * forward pass does nothing.  probability defaults to 0.5.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/layer.h"
#include "cpu/blas.h"

typedef struct dropout_params {
    float probability;
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

/* Inference: identity.  The planner aliases output and input, so the copy
 * below only runs if it ever did not. */
static void dropout_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    ecn_copy(in[0], (size_t)l->batch * ecn_layer_outputs(l), l->output);
}

static void dropout_describe(const ecn_layer *l, char *buf, size_t n)
{
    const dropout_params *p = l->p;
    snprintf(buf, n, "p = %.2f", p->probability);
}

static void dropout_destroy(ecn_layer *l)
{
    free(l->p);
    l->p = NULL;
}

const ecn_layer_ops ecn_dropout_ops = {
    .name = "dropout",
    .make = dropout_make,
    .forward = dropout_forward,
    .describe = dropout_describe,
    .destroy = dropout_destroy,
};
