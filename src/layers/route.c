/* route.c - [route]: concatenate earlier layers' outputs along channels.
 *
 *   out[b] = concat(L1[b], L2[b], ...)     for each image b of the batch
 *
 * layers=i,j,...: a negative index is relative (this layer's index + i), a
 * non-negative one absolute.  Every listed layer must come before this one
 * and all must share width and height; the output is w x h x (c1 + c2 + ...).
 * A single layer makes route a plain copy (used to jump back in YOLO heads).
 *
 * Backward: each source gets back its own slice of the delta,
 *
 *   in_delta_k[b] += delta[b][offset_k, offset_k + size_k)
 *
 * added, not copied: the same layer may be listed twice, or also feed others.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/layer.h"
#include "cpu/blas.h"

#ifdef ECN_GPU
#include "cuda/gpu.h"
#endif

typedef struct route_params {
    size_t sizes[ECN_MAX_SOURCES]; /* floats per image of each source */
} route_params;

/* Resolve a listed index (negative: relative) to an earlier layer, or fail. */
static int route_source(ecn_opts *o, const ecn_build *b, int listed, int *abs)
{
    int idx = listed < 0 ? b->index + listed : listed;
    if (b->index == 0) {
        ecn_opt_fail(o, "layers", "expected earlier layers, but route is the first layer");
        return -1;
    }
    if (idx < 0 || idx >= b->index) {
        ecn_opt_fail(o, "layers",
                     "%d refers to layer %d: expected an earlier layer, 0 to %d (or -1 to -%d)",
                     listed, idx, b->index - 1, b->index);
        return -1;
    }
    *abs = idx;
    return 0;
}

static int route_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    int n = ecn_opt_count(o, "layers");
    if (n > ECN_MAX_SOURCES) {
        ecn_opt_fail(o, "layers", "expected at most %d layers, got %d", ECN_MAX_SOURCES, n);
        return -1;
    }
    int listed[ECN_MAX_SOURCES];
    n = ecn_opt_ints(o, "layers", listed, ECN_MAX_SOURCES);
    if (o->failed) return -1;
    if (n <= 0) {
        ecn_opt_fail(o, NULL, "expected layers=<index>[,<index>...]");
        return -1;
    }

    route_params *p = calloc(1, sizeof *p);
    if (!p) {
        ecn_opt_fail(o, NULL, "out of memory");
        return -1;
    }
    ecn_shape first = {0, 0, 0};
    for (int k = 0; k < n; k++) {
        int idx;
        if (route_source(o, b, listed[k], &idx) < 0) goto fail;
        ecn_shape s = b->layers[idx].out;
        if (ecn_shape_size(s) == 0) {
            ecn_opt_fail(o, "layers", "layer %d has an empty output (%d x %d x %d)", idx, s.w, s.h,
                         s.c);
            goto fail;
        }
        if (k == 0) {
            first = s;
            l->out = s;
        } else if (s.w != first.w || s.h != first.h) {
            ecn_opt_fail(o, "layers",
                         "layer %d outputs %d x %d but layer %d outputs %d x %d: expected route "
                         "inputs with the same width and height",
                         l->sources[0], first.w, first.h, idx, s.w, s.h);
            goto fail;
        } else {
            l->out.c += s.c;
        }
        l->sources[k] = idx;
        p->sizes[k] = ecn_shape_size(s);
    }
    l->n_sources = n;
    l->in = first;
    l->p = p;
    return 0;
fail:
    free(p);
    return -1;
}

static void route_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    (void)ctx;
    const route_params *p = l->p;
    size_t outputs = ecn_layer_outputs(l);
    for (int b = 0; b < l->batch; b++) {
        float *dst = l->output + b * outputs;
        for (int k = 0; k < l->n_sources; k++) {
            ecn_copy(in[k] + b * p->sizes[k], p->sizes[k], dst);
            dst += p->sizes[k];
        }
    }
}

static void route_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                           const ecn_ctx *ctx)
{
    (void)in;
    (void)ctx;
    const route_params *p = l->p;
    size_t outputs = ecn_layer_outputs(l);
    for (int b = 0; b < l->batch; b++) {
        const float *src = l->delta + b * outputs;
        for (int k = 0; k < l->n_sources; k++) {
            if (in_delta[k]) ecn_axpy(p->sizes[k], 1, src, in_delta[k] + b * p->sizes[k]);
            src += p->sizes[k];
        }
    }
}

/* Darknet prints the absolute indices: "route  13 8". */
static void route_describe(const ecn_layer *l, char *buf, size_t n)
{
    size_t used = 0;
    if (n == 0) return;
    buf[0] = 0;
    for (int k = 0; k < l->n_sources && used < n; k++) {
        int w = snprintf(buf + used, n - used, k ? " %d" : "%d", l->sources[k]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

static void route_destroy(ecn_layer *l)
{
    free(l->p);
    l->p = NULL;
}

/* ---- GPU inference: each source's slice of every image, one 2-D copy
 * (cuda/route_shortcut.cu). */
#ifdef ECN_GPU
static int route_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    const route_params *p = l->p;
    size_t outputs = ecn_layer_outputs(l), offset = 0;
    for (int k = 0; k < l->n_sources; k++) {
        if (ecn_gpu_copy_rows(in[k], p->sizes[k], l->gpu.output + offset, outputs, p->sizes[k], l->batch, err))
            return -1;
        offset += p->sizes[k];
    }
    return 0;
}
#endif

const ecn_layer_ops ecn_route_ops = {
    .name = "route",
    .make = route_make,
    .forward = route_forward,
    .backward = route_backward,
    .describe = route_describe,
    .destroy = route_destroy,
    .forward_gpu = ECN_GPU_OP(route_forward_gpu),
};
