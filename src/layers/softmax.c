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
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/layer.h"
#include "cpu/blas.h"

typedef struct softmax_params {
    int groups;
    float temperature;
    int spatial, noloss; /* read for training; not used at inference */
} softmax_params;

static int softmax_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    softmax_params pp;
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

static void softmax_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    const softmax_params *p = l->p;
    size_t n = ecn_layer_inputs(l) / (size_t)p->groups;
    size_t runs = (size_t)l->batch * (size_t)p->groups;
    for (size_t r = 0; r < runs; r++)
        ecn_softmax(in[0] + r * n, (int)n, p->temperature, 1, l->output + r * n);
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

const ecn_layer_ops ecn_softmax_ops = {
    .name = "softmax",
    .make = softmax_make,
    .forward = softmax_forward,
    .describe = softmax_describe,
    .destroy = softmax_destroy,
};
