/* cost.c - [cost]: the training loss at the end of a network.
 *
 * At inference the layer passes its input through unchanged (out = in; the
 * output aliases the input).  While training it measures the error of the
 * input x against the truth t, value by value (d = t - x):
 *   sse     d^2
 *   masked  d^2, where truths equal to Darknet's mask value do not count
 *   smooth  d^2 when |d| < 1, else 2|d| - 1
 *   L1      |d|
 * and passes back the gradient times `scale`.  ratio, noobj and thresh are
 * read for Darknet compatibility (they only select which values count).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "cpu/blas.h"

typedef enum { COST_SSE, COST_MASKED, COST_SMOOTH, COST_L1 } cost_type;

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

/* Inference: identity (a no-op when the output aliases the input). */
static void cost_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    ecn_copy(in[0], (size_t)l->batch * ecn_layer_outputs(l), l->output);
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
    .describe = cost_describe,
    .destroy = cost_destroy,
};
