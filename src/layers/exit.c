/* exit.c - [exit]: the start of an early-exit branch (BranchyNet).
 *
 * An [exit] reads a layer of the main path (from=, default the previous
 * main-path layer) and passes it on unchanged:  out = in.  The sections after
 * it, up to and including the next [softmax], form the exit's classifier
 * head; the main path then resumes from where the branch left it.
 *
 * At inference the head's class probabilities p give the entropy
 *   H(p) = -sum_i p_i log p_i        (natural log; 0 <= H <= log(classes))
 * and a frame whose H is below `threshold` is answered by this exit (the
 * first such exit wins) instead of going on to the cloud.
 * In training the head's softmax loss counts `weight` times in the joint
 * loss  L = L_final + sum_k weight_k L_k.  Backward: in_delta += delta.
 */
#include <stdlib.h>

#include "cpu/blas.h"
#include "layers/exit.h"

typedef struct exit_params {
    float threshold, weight;
} exit_params;

float ecn_exit_threshold(const ecn_layer *l) { return ((const exit_params *)l->p)->threshold; }
float ecn_exit_weight(const ecn_layer *l) { return ((const exit_params *)l->p)->weight; }
void ecn_exit_set_threshold(ecn_layer *l, float t) { ((exit_params *)l->p)->threshold = t; }

static int exit_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    exit_params *p = calloc(1, sizeof *p);
    if (!p) return ecn_opt_fail(o, NULL, "out of memory");
    l->p = p;
    p->threshold = ecn_opt_float(o, "threshold", 0.5f);
    p->weight = ecn_opt_float(o, "weight", 1.0f);
    int from = ecn_opt_int(o, "from", b->trunk_last);
    if (o->failed) return -1;
    if (ecn_opt_has(o, "from") && from < 0) from += b->index;
    if (p->threshold < 0) return ecn_opt_fail(o, "threshold", "expected an entropy >= 0");
    if (p->weight < 0) return ecn_opt_fail(o, "weight", "expected a loss weight >= 0");
    if (from < 0 || from >= b->index)
        return ecn_opt_fail(o, "from", "expected a layer before this one (0..%d or -1..-%d)",
                            b->index - 1, b->index);
    if (b->layers[from].branch)
        return ecn_opt_fail(o, "from", "layer %d belongs to another exit branch", from);
    l->sources[0] = from;
    l->in = l->out = b->layers[from].out;
    l->in_place = 1;
    return 0;
}

static void exit_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    if (l->output != in[0]) ecn_copy(in[0], ecn_layer_outputs(l) * (size_t)l->batch, l->output);
}

static void exit_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                          const ecn_ctx *ctx)
{
    (void)in, (void)ctx;
    if (in_delta[0]) ecn_axpy(ecn_layer_outputs(l) * (size_t)l->batch, 1, l->delta, in_delta[0]);
}

static void exit_describe(const ecn_layer *l, char *buf, size_t n)
{
    const exit_params *p = l->p;
    snprintf(buf, n, "from %d H<%.3g w%.3g", l->sources[0], p->threshold, p->weight);
}

static void exit_destroy(ecn_layer *l)
{
    free(l->p);
    l->p = NULL;
}

const ecn_layer_ops ecn_exit_ops = {
    .name = "exit",
    .make = exit_make,
    .forward = exit_forward,
    .backward = exit_backward,
    .describe = exit_describe,
    .destroy = exit_destroy,
    .forward_gpu = ECN_GPU_OP(ecn_gpu_forward_copy), /* the identity at inference */
};
