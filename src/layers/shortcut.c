/* shortcut.c - [shortcut]: residual addition.
 *
 *   out = activation(alpha * prev + beta * from)
 *
 * prev is the previous layer's output (which fixes this layer's shape) and
 * from the output of layer `from` (negative: relative to this layer).
 * alpha and beta default to 1.  When the shapes differ, Darknet adds over
 * the common region only: with from = (w1, h1, c1) and prev = (w2, h2, c2),
 * stride = max(w1/w2, 1) and sample = max(w2/w1, 1),
 *
 *   out[k][j*sample][i*sample] += from[k][j*stride][i*stride]
 *       for k < min(c1, c2), j < min(h1, h2), i < min(w1, w2)
 *
 * and the rest of out is prev unchanged (before the activation).
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/layer.h"
#include "cpu/activations.h"
#include "cpu/blas.h"

typedef struct shortcut_params {
    int from;           /* absolute index of the added layer */
    ecn_shape add;      /* its output shape */
    ecn_activation act;
    float alpha, beta;
} shortcut_params;

static int parse_activation(ecn_opts *o, const char *key, const char *def, ecn_activation *a)
{
    const char *name = ecn_opt_str(o, key, def);
    if (o->failed) return -1;
    if (ecn_activation_parse(name, a) == 0) return 0;
    ecn_opt_fail(o, key, "unknown activation \"%s\": expected one of %s", name,
                 ecn_activation_names());
    return -1;
}

/* Darknet asserts that width and height scale by the same whole factor. */
static int shapes_compatible(ecn_shape from, ecn_shape prev)
{
    return from.w / prev.w == from.h / prev.h && prev.w / from.w == prev.h / from.h;
}

static int shortcut_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    int has_from = ecn_opt_has(o, "from");
    int listed = ecn_opt_int(o, "from", 0);
    shortcut_params pp;
    if (parse_activation(o, "activation", "linear", &pp.act) < 0) return -1;
    pp.alpha = ecn_opt_float(o, "alpha", 1);
    pp.beta = ecn_opt_float(o, "beta", 1);
    if (o->failed) return -1;
    if (!has_from) {
        ecn_opt_fail(o, NULL, "expected from=<layer index>");
        return -1;
    }
    pp.from = listed < 0 ? b->index + listed : listed;
    if (b->index == 0) {
        ecn_opt_fail(o, "from", "expected an earlier layer, but shortcut is the first layer");
        return -1;
    }
    if (pp.from < 0 || pp.from >= b->index) {
        ecn_opt_fail(o, "from",
                     "%d refers to layer %d: expected an earlier layer, 0 to %d (or -1 to -%d)",
                     listed, pp.from, b->index - 1, b->index);
        return -1;
    }
    pp.add = b->layers[pp.from].out;
    ecn_shape prev = l->in;
    if (ecn_shape_size(prev) == 0 || ecn_shape_size(pp.add) == 0) {
        ecn_opt_fail(o, "from", "expected non-empty inputs, got %d x %d x %d and %d x %d x %d",
                     prev.w, prev.h, prev.c, pp.add.w, pp.add.h, pp.add.c);
        return -1;
    }
    if (!shapes_compatible(pp.add, prev)) {
        ecn_opt_fail(o, "from",
                     "layer %d outputs %d x %d x %d and the previous layer %d x %d x %d: expected "
                     "width and height to differ by the same whole factor",
                     pp.from, pp.add.w, pp.add.h, pp.add.c, prev.w, prev.h, prev.c);
        return -1;
    }

    shortcut_params *p = malloc(sizeof *p);
    if (!p) {
        ecn_opt_fail(o, NULL, "out of memory");
        return -1;
    }
    *p = pp;
    l->p = p;
    l->out = prev;
    l->n_sources = 2;
    l->sources[1] = pp.from; /* sources[0] stays the previous layer */
    return 0;
}

static int imin(int a, int b) { return a < b ? a : b; }

/* out = alpha*out + beta*add over the common region of one image. */
static void add_region(const shortcut_params *p, ecn_shape os, float *out, const float *add)
{
    ecn_shape as = p->add;
    int stride = as.w / os.w, sample = os.w / as.w;
    if (stride < 1) stride = 1;
    if (sample < 1) sample = 1;
    int minw = imin(as.w, os.w), minh = imin(as.h, os.h), minc = imin(as.c, os.c);
    for (int k = 0; k < minc; k++)
        for (int j = 0; j < minh; j++)
            for (int i = 0; i < minw; i++) {
                size_t o = (size_t)i * sample + os.w * ((size_t)j * sample + (size_t)os.h * k);
                size_t a = (size_t)i * stride + as.w * ((size_t)j * stride + (size_t)as.h * k);
                out[o] = p->alpha * out[o] + p->beta * add[a];
            }
}

/* The common case: both shapes equal. */
static void add_same(const shortcut_params *p, size_t n, float *out, const float *add)
{
    for (size_t i = 0; i < n; i++) out[i] = p->alpha * out[i] + p->beta * add[i];
}

static void shortcut_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    const shortcut_params *p = l->p;
    size_t outputs = ecn_layer_outputs(l), adds = ecn_shape_size(p->add);
    ecn_copy(in[0], (size_t)l->batch * outputs, l->output);
    if (p->add.w == l->out.w && p->add.h == l->out.h && p->add.c == l->out.c)
        add_same(p, (size_t)l->batch * outputs, l->output, in[1]);
    else
        for (int b = 0; b < l->batch; b++)
            add_region(p, l->out, l->output + b * outputs, in[1] + b * adds);
    ecn_activate(l->output, (size_t)l->batch * outputs, p->act);
}

/* Darknet prints the absolute index of the added layer: "res   36". */
static void shortcut_describe(const ecn_layer *l, char *buf, size_t n)
{
    const shortcut_params *p = l->p;
    snprintf(buf, n, "%d", p->from);
}

static void shortcut_destroy(ecn_layer *l)
{
    free(l->p);
    l->p = NULL;
}

const ecn_layer_ops ecn_shortcut_ops = {
    .name = "shortcut",
    .make = shortcut_make,
    .forward = shortcut_forward,
    .describe = shortcut_describe,
    .destroy = shortcut_destroy,
};
