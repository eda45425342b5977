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
 *
 * Backward: first through the activation, d = delta * act'(out); then
 *
 *   prev_delta[o] += alpha * d[o]   where o is in the common region
 *                 += d[o]           elsewhere (prev passed unchanged)
 *   from_delta[a] += beta * d[o]    for each pair (o, a) of the region
 *
 * With equal shapes the region is everything: prev_delta += alpha * d and
 * from_delta += beta * d.  (Darknet scales all of prev_delta by alpha even
 * outside the region; that only differs for mismatched shapes with alpha != 1.)
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/layer.h"
#include "cpu/activations.h"
#include "cpu/blas.h"

#ifdef ECN_GPU
#include "cuda/gpu.h"
#endif

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

/* The common region of one image: pairs (o, a) of positions in out and add. */
typedef struct region {
    ecn_shape os, as;
    int stride, sample, minw, minh, minc;
} region;

static region region_of(const shortcut_params *p, ecn_shape os)
{
    region r = {os, p->add, p->add.w / os.w, os.w / p->add.w, imin(p->add.w, os.w),
                imin(p->add.h, os.h), imin(p->add.c, os.c)};
    if (r.stride < 1) r.stride = 1;
    if (r.sample < 1) r.sample = 1;
    return r;
}

static size_t region_out(const region *r, int k, int j, int i)
{
    return (size_t)i * r->sample + r->os.w * ((size_t)j * r->sample + (size_t)r->os.h * k);
}

static size_t region_add(const region *r, int k, int j, int i)
{
    return (size_t)i * r->stride + r->as.w * ((size_t)j * r->stride + (size_t)r->as.h * k);
}

/* out = alpha*out + beta*add over the common region of one image. */
static void add_region(const shortcut_params *p, ecn_shape os, float *out, const float *add)
{
    region r = region_of(p, os);
    for (int k = 0; k < r.minc; k++)
        for (int j = 0; j < r.minh; j++)
            for (int i = 0; i < r.minw; i++) {
                size_t o = region_out(&r, k, j, i), a = region_add(&r, k, j, i);
                out[o] = p->alpha * out[o] + p->beta * add[a];
            }
}

/* The adjoint of add_region for one image (after prev_delta += d everywhere):
 * prev_delta gets alpha - 1 more of d inside the region, from_delta beta. */
static void back_region(const shortcut_params *p, ecn_shape os, const float *d, float *prev_delta,
                        float *from_delta)
{
    region r = region_of(p, os);
    for (int k = 0; k < r.minc; k++)
        for (int j = 0; j < r.minh; j++)
            for (int i = 0; i < r.minw; i++) {
                size_t o = region_out(&r, k, j, i), a = region_add(&r, k, j, i);
                if (prev_delta) prev_delta[o] += (p->alpha - 1) * d[o];
                if (from_delta) from_delta[a] += p->beta * d[o];
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

static void shortcut_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                              const ecn_ctx *ctx)
{
    (void)in;
    (void)ctx;
    const shortcut_params *p = l->p;
    size_t outputs = ecn_layer_outputs(l), adds = ecn_shape_size(p->add);
    size_t n = (size_t)l->batch * outputs;
    ecn_gradient(l->output, n, p->act, l->delta);
    if (p->add.w == l->out.w && p->add.h == l->out.h && p->add.c == l->out.c) {
        if (in_delta[0]) ecn_axpy(n, p->alpha, l->delta, in_delta[0]);
        if (in_delta[1]) ecn_axpy(n, p->beta, l->delta, in_delta[1]);
        return;
    }
    if (in_delta[0]) ecn_axpy(n, 1, l->delta, in_delta[0]);
    for (int b = 0; b < l->batch; b++)
        back_region(p, l->out, l->delta + b * outputs, in_delta[0] ? in_delta[0] + b * outputs : NULL,
                    in_delta[1] ? in_delta[1] + b * adds : NULL);
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

/* ---- GPU inference: the addition and the activation in one pass, the
 * region rule included (cuda/route_shortcut.cu). */
#ifdef ECN_GPU
static int shortcut_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    const shortcut_params *p = l->p;
    return ecn_gpu_shortcut(in[0], in[1], l->batch, l->out, p->add, p->alpha, p->beta, p->act, l->gpu.output, err);
}
#endif

const ecn_layer_ops ecn_shortcut_ops = {
    .name = "shortcut",
    .make = shortcut_make,
    .forward = shortcut_forward,
    .backward = shortcut_backward,
    .describe = shortcut_describe,
    .destroy = shortcut_destroy,
    .forward_gpu = ECN_GPU_OP(shortcut_forward_gpu),
};
