/* maxpool.c - [maxpool]: the largest value in each window.
 *
 *   out[c][oy][ox] = max  in[c][oy*stride - pad/2 + dy][ox*stride - pad/2 + dx]
 *                  0 <= dy, dx < size
 *
 *   out_w = (w + pad - size) / stride + 1   (the same for h; c is unchanged)
 *
 * Window positions that fall outside the input are skipped, as if they held
 * -infinity (a window with no position inside gives -FLT_MAX, as Darknet).
 * The default pad = size - 1 keeps 13x13 at 13x13 for size 2, stride 1
 * (yolov3-tiny) and size 5/9/13, stride 1 (yolov3-spp).
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/layer.h"

typedef struct maxpool_params {
    int size, stride, pad;
} maxpool_params;

static int maxpool_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    int stride = ecn_opt_int(o, "stride", 1);
    int size = ecn_opt_int(o, "size", stride);
    int pad = ecn_opt_int(o, "padding", size - 1);
    if (o->failed) return -1;

    if (stride <= 0) {
        ecn_opt_fail(o, "stride", "expected stride >= 1, got %d", stride);
        return -1;
    }
    if (size <= 0) {
        ecn_opt_fail(o, "size", "expected size >= 1, got %d", size);
        return -1;
    }
    if (pad < 0) {
        ecn_opt_fail(o, "padding", "expected padding >= 0, got %d", pad);
        return -1;
    }
    ecn_shape in = l->in;
    if (in.w <= 0 || in.h <= 0 || in.c <= 0) {
        ecn_opt_fail(o, NULL, "maxpool needs an image input, got %d x %d x %d", in.w, in.h, in.c);
        return -1;
    }
    l->out.c = in.c;
    l->out.w = (in.w + pad - size) / stride + 1;
    l->out.h = (in.h + pad - size) / stride + 1;
    if (l->out.w <= 0 || l->out.h <= 0) {
        ecn_opt_fail(o, "size", "window %d (padding %d) is larger than the %d x %d input", size,
                     pad, in.w, in.h);
        return -1;
    }

    maxpool_params *p = calloc(1, sizeof *p);
    if (!p) {
        ecn_opt_fail(o, NULL, "out of memory");
        return -1;
    }
    p->size = size;
    p->stride = stride;
    p->pad = pad;
    l->p = p;
    return 0;
}

/* The window [start, start+size) clipped to [0, n). */
static void clip_window(int start, int size, int n, int *lo, int *hi)
{
    *lo = start < 0 ? 0 : start;
    *hi = start + size > n ? n : start + size;
}

/* One input plane (w x h) to one output plane. */
static void maxpool_plane(const maxpool_params *p, const float *in, int w, int h, float *out,
                          int ow, int oh)
{
    int offset = -p->pad / 2;
    for (int oy = 0; oy < oh; oy++) {
        int y0, y1;
        clip_window(oy * p->stride + offset, p->size, h, &y0, &y1);
        for (int ox = 0; ox < ow; ox++) {
            int x0, x1;
            clip_window(ox * p->stride + offset, p->size, w, &x0, &x1);
            float best = -FLT_MAX;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    if (in[y * w + x] > best) best = in[y * w + x];
            out[oy * ow + ox] = best;
        }
    }
}

typedef struct maxpool_job {
    const ecn_layer *l;
    const float *in;
} maxpool_job;

/* Task t is plane t of the batch: image t / c, channel t % c. */
static void maxpool_task(void *arg, int task, int thread)
{
    (void)thread;
    const maxpool_job *job = arg;
    const ecn_layer *l = job->l;
    size_t in_plane = (size_t)l->in.w * l->in.h, out_plane = (size_t)l->out.w * l->out.h;
    maxpool_plane(l->p, job->in + task * in_plane, l->in.w, l->in.h,
                  l->output + task * out_plane, l->out.w, l->out.h);
}

static void maxpool_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    maxpool_job job = {l, in[0]};
    int planes = l->batch * l->out.c;
    if (ctx && ctx->pool)
        ecn_pool_run(ctx->pool, planes, maxpool_task, &job);
    else
        for (int t = 0; t < planes; t++) maxpool_task(&job, t, 0);
}

static void maxpool_describe(const ecn_layer *l, char *buf, size_t n)
{
    const maxpool_params *p = l->p;
    snprintf(buf, n, "%d x %d / %d", p->size, p->size, p->stride);
}

static void maxpool_destroy(ecn_layer *l)
{
    free(l->p);
    l->p = NULL;
}

const ecn_layer_ops ecn_maxpool_ops = {
    .name = "maxpool",
    .make = maxpool_make,
    .forward = maxpool_forward,
    .describe = maxpool_describe,
    .destroy = maxpool_destroy,
};
