/* convolutional.c - 2-D convolution, optional batch norm, activation.
 *
 * Forward, for each image and each group g of `groups`:
 *   out[f][y][x] = act( sum_{c,ky,kx} W[f][c][ky][kx] * in[c][y*s - p + ky][x*s - p + kx] + b[f] )
 * computed as one matrix product  OUT (F x HW) = W (F x CK²) * COL (CK² x HW),
 * where COL is the im2col unfolding of the input (skipped for 1x1, stride 1
 * kernels, whose input already is that matrix).
 *
 * With batch_normalize=1 the bias is replaced by Darknet's inference batch norm:
 *   out = scale[f] * (conv - mean[f]) / (sqrt(var[f]) + 1e-6) + bias[f]
 * which folds into the weights for inference:
 *   W'[f] = W[f] * k[f],  b'[f] = bias[f] - mean[f] * k[f],  k[f] = scale[f] / (sqrt(var[f]) + 1e-6).
 *
 * Parallel work: when the output has many positions, tasks are bands of
 * output rows, each unfolding its band into a per-thread buffer, multiplying,
 * and applying bias and activation while the band is still in cache.  Small
 * outputs (13x13, 8x8) with many filters split the filters across threads
 * instead, sharing one unfolded input.
 *
 * Training (below) has its own forward, image-parallel, with batch statistics.
 *
 * .weights order: biases[F], then if batch_normalize scales[F], rolling_mean[F],
 * rolling_variance[F], then weights[F][C/groups][k][k].
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "cpu/activations.h"
#include "cpu/batchnorm.h"
#include "cpu/blas.h"
#include "cpu/gemm.h"
#include "cpu/im2col.h"

#ifdef ECN_GPU
#include "cuda/gpu.h"
#endif

typedef struct conv {
    int filters, size, stride, pad, groups, batch_normalize, folded;
    ecn_activation act;
    float *weights; /* filters * (c/groups) * size * size */
    float *biases, *scales, *mean, *var;
    /* training only (conv_train_begin) */
    int training;
    float *weight_grad, *bias_grad, *scale_grad;
    float *thread_grads;         /* threads x weights, summed after each batch */
    float *x, *x_norm;           /* batch norm: output before and after normalising */
    float *batch_mean, *batch_var;
} conv;

/* Geometry of one group's matrix product. */
typedef struct conv_shape {
    int M, K, N;       /* filters per group, inputs per filter, output positions */
    int cg;            /* input channels per group */
    int direct;        /* 1x1 stride 1 pad 0: the input is the column matrix */
    int rows_per_task; /* output rows per band (row split) */
    int filter_split;  /* split the filters, not the rows */
} conv_shape;

enum { FILTER_BLOCK = 64, BAND_FLOATS = 131072 };

static conv_shape shape_of(const ecn_layer *l)
{
    const conv *p = l->p;
    conv_shape s;
    s.M = p->filters / p->groups;
    s.cg = l->in.c / p->groups;
    s.K = s.cg * p->size * p->size;
    s.N = l->out.h * l->out.w;
    s.direct = p->size == 1 && p->stride == 1 && p->pad == 0;
    /* Bands of about 128 K floats (512 KB) of unfolded input: small enough to
     * stay in L2, large enough that repacking the filters per band is cheap. */
    int cols = BAND_FLOATS / (s.K > 0 ? s.K : 1);
    if (cols < 64) cols = 64;
    s.rows_per_task = (cols + l->out.w - 1) / l->out.w;
    if (s.rows_per_task > l->out.h) s.rows_per_task = l->out.h;
    if (s.rows_per_task < 1) s.rows_per_task = 1;
    s.filter_split = s.N < 1024 && s.M >= 2 * FILTER_BLOCK;
    return s;
}

/* ---- make / describe ------------------------------------------------ */

static int conv_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    conv *p = calloc(1, sizeof *p);
    if (!p) return ecn_opt_fail(o, NULL, "out of memory");
    l->p = p;
    p->filters = ecn_opt_int_range(o, "filters", 1, 1, 1 << 20);
    p->groups = ecn_opt_int_range(o, "groups", 1, 1, 1 << 20);
    p->size = ecn_opt_int_range(o, "size", 1, 1, 1024);
    p->stride = ecn_opt_int_range(o, "stride", 1, 1, 1024);
    int pad = ecn_opt_int(o, "pad", 0);
    p->pad = ecn_opt_int_range(o, "padding", 0, 0, 1024);
    if (pad) p->pad = p->size / 2;
    p->batch_normalize = ecn_opt_int(o, "batch_normalize", 0) != 0;
    const char *act = ecn_opt_str(o, "activation", "logistic");
    if (ecn_activation_parse(act, &p->act))
        return ecn_opt_fail(o, "activation", "unknown activation; expected one of %s",
                            ecn_activation_names());
    if (ecn_opt_int(o, "binary", 0) || ecn_opt_int(o, "xnor", 0))
        return ecn_opt_fail(o, NULL, "binary/xnor convolutions are not supported");
    if (ecn_opt_int(o, "flipped", 0)) return ecn_opt_fail(o, "flipped", "flipped weights are not supported");
    ecn_opt_float(o, "dot", 0);
    if (o->failed) return -1;
    if (l->in.c % p->groups || p->filters % p->groups)
        return ecn_opt_fail(o, "groups", "input channels (%d) and filters (%d) must both divide by groups",
                            l->in.c, p->filters);
    int out_w = (l->in.w + 2 * p->pad - p->size) / p->stride + 1;
    int out_h = (l->in.h + 2 * p->pad - p->size) / p->stride + 1;
    if (l->in.w + 2 * p->pad < p->size || l->in.h + 2 * p->pad < p->size)
        return ecn_opt_fail(o, "size", "kernel larger than the padded %dx%d input", l->in.w, l->in.h);
    l->out = (ecn_shape){p->filters, out_h, out_w};

    size_t nw = (size_t)p->filters * (l->in.c / p->groups) * p->size * p->size;
    p->weights = calloc(nw, sizeof(float));
    p->biases = calloc((size_t)p->filters, sizeof(float));
    if (p->batch_normalize) {
        p->scales = calloc((size_t)p->filters, sizeof(float));
        p->mean = calloc((size_t)p->filters, sizeof(float));
        p->var = calloc((size_t)p->filters, sizeof(float));
    }
    if (!p->weights || !p->biases || (p->batch_normalize && (!p->scales || !p->mean || !p->var)))
        return ecn_opt_fail(o, NULL, "out of memory for %zu weights", nw);
    if (p->batch_normalize)
        for (int f = 0; f < p->filters; f++) p->scales[f] = p->var[f] = 1;
    return 0;
}

static void conv_destroy(ecn_layer *l)
{
    conv *p = l->p;
    if (!p) return;
    free(p->weights);
    free(p->biases);
    free(p->scales);
    free(p->mean);
    free(p->var);
    free(p->weight_grad);
    free(p->bias_grad);
    free(p->scale_grad);
    free(p->thread_grads);
    free(p->x);
    free(p->x_norm);
    free(p->batch_mean);
    free(p->batch_var);
    free(p);
    l->p = NULL;
}

static size_t weight_count(const ecn_layer *l)
{
    const conv *p = l->p;
    return (size_t)p->filters * (l->in.c / p->groups) * p->size * p->size;
}

static size_t conv_param_count(const ecn_layer *l)
{
    const conv *p = l->p;
    return weight_count(l) + (size_t)p->filters * (p->batch_normalize ? 2 : 1);
}

static double conv_flops(const ecn_layer *l)
{
    const conv *p = l->p;
    return 2.0 * p->filters * p->size * p->size * (l->in.c / p->groups) * l->out.h * l->out.w;
}

static void conv_describe(const ecn_layer *l, char *buf, size_t n)
{
    const conv *p = l->p;
    snprintf(buf, n, "%5d %2d x%2d /%2d", p->filters, p->size, p->size, p->stride);
}

static size_t conv_scratch(const ecn_layer *l)
{
    conv_shape s = shape_of(l);
    if (((const conv *)l->p)->training) return 2 * (size_t)s.K * s.N; /* columns and their deltas */
    if (s.direct) return 0;
    /* The filter split shares one unfolded input spanning all threads' scratch. */
    if (s.filter_split) return ((size_t)s.K * s.N + l->threads - 1) / (size_t)l->threads;
    return (size_t)s.K * s.rows_per_task * l->out.w;
}

/* ---- weights -------------------------------------------------------- */

static int conv_load(ecn_layer *l, ecn_wfile *wf)
{
    conv *p = l->p;
    if (ecn_wfile_read(wf, p->biases, (size_t)p->filters, "biases")) return -1;
    if (p->batch_normalize) {
        if (ecn_wfile_read(wf, p->scales, (size_t)p->filters, "scales") ||
            ecn_wfile_read(wf, p->mean, (size_t)p->filters, "rolling_mean") ||
            ecn_wfile_read(wf, p->var, (size_t)p->filters, "rolling_variance"))
            return -1;
    }
    p->folded = 0;
    return ecn_wfile_read(wf, p->weights, weight_count(l), "weights");
}

static int conv_save(const ecn_layer *l, ecn_wfile *wf)
{
    const conv *p = l->p;
    if (ecn_wfile_write(wf, p->biases, (size_t)p->filters)) return -1;
    if (p->batch_normalize) {
        if (ecn_wfile_write(wf, p->scales, (size_t)p->filters) ||
            ecn_wfile_write(wf, p->mean, (size_t)p->filters) ||
            ecn_wfile_write(wf, p->var, (size_t)p->filters))
            return -1;
    }
    return ecn_wfile_write(wf, p->weights, weight_count(l));
}

static void conv_randomize(ecn_layer *l, unsigned long long *rng)
{
    conv *p = l->p;
    size_t n = weight_count(l);
    float scale = sqrtf(2.f / (float)((l->in.c / p->groups) * p->size * p->size));
    for (size_t i = 0; i < n; i++) p->weights[i] = scale * (2 * ecn_rng_uniform(rng) - 1);
    for (int f = 0; f < p->filters; f++) {
        p->biases[f] = 0;
        if (p->batch_normalize) p->scales[f] = 1, p->mean[f] = 0, p->var[f] = 1;
    }
    p->folded = 0;
}

static int conv_fold(ecn_layer *l)
{
    conv *p = l->p;
    if (!p->batch_normalize || p->folded) return 0;
    size_t per_filter = weight_count(l) / (size_t)p->filters;
    for (int f = 0; f < p->filters; f++) {
        float k = p->scales[f] / (sqrtf(p->var[f]) + ECN_BN_EPS);
        float *w = p->weights + (size_t)f * per_filter;
        for (size_t i = 0; i < per_filter; i++) w[i] *= k;
        p->biases[f] -= p->mean[f] * k;
    }
    p->folded = 1;
    return 1;
}

/* ---- forward -------------------------------------------------------- */

/* Bias (or batch norm) and activation on rows [m0, m1) of one group's output,
 * columns [n0, n1); `f0` is the group's first filter. */
static void finish_block(const conv *p, float *out, int ld, int f0, int m0, int m1, int n0, int n1)
{
    for (int m = m0; m < m1; m++) {
        int f = f0 + m;
        float *row = out + (size_t)m * ld + n0;
        int n = n1 - n0;
        if (p->batch_normalize && !p->folded) {
            float mean = p->mean[f], den = sqrtf(p->var[f]) + ECN_BN_EPS, sc = p->scales[f];
            for (int i = 0; i < n; i++) row[i] = (row[i] - mean) / den;
            for (int i = 0; i < n; i++) row[i] *= sc;
        }
        float b = p->biases[f];
        for (int i = 0; i < n; i++) row[i] += b;
        ecn_activate(row, (size_t)n, p->act);
    }
}

typedef struct conv_job {
    const ecn_layer *l;
    const conv *p;
    conv_shape s;
    const float *in; /* batch item's input */
    float *out;      /* batch item's output */
    const ecn_ctx *ctx;
    int bands;       /* row bands per group (row split) */
    int blocks;      /* filter blocks per group (filter split) */
    int block;       /* filters per block */
    int g;           /* the group being computed (filter split) */
} conv_job;

static const float *group_input(const conv_job *j, int g)
{
    return j->in + (size_t)g * j->s.cg * j->l->in.h * j->l->in.w;
}

/* Row split: task = (group, band of output rows). */
static void row_task(void *arg, int task, int thread)
{
    const conv_job *j = arg;
    const ecn_layer *l = j->l;
    int g = task / j->bands, band = task % j->bands;
    int oy0 = band * j->s.rows_per_task;
    int oy1 = oy0 + j->s.rows_per_task < l->out.h ? oy0 + j->s.rows_per_task : l->out.h;
    int n0 = oy0 * l->out.w, n1 = oy1 * l->out.w, ncols = n1 - n0;
    const float *A = j->p->weights + (size_t)g * j->s.M * j->s.K;
    float *C = j->out + (size_t)g * j->s.M * j->s.N;
    const float *B;
    int ldb;
    if (j->s.direct) {
        B = group_input(j, g) + n0;
        ldb = j->s.N;
    } else {
        float *col = j->ctx->scratch[thread];
        ecn_im2col_rows(group_input(j, g), l->in.h, l->in.w, j->p->size, j->p->stride, j->p->pad,
                        l->out.w, 0, j->s.cg, oy0, oy1, col, ncols);
        B = col;
        ldb = ncols;
    }
    ecn_gemm(0, 0, j->s.M, ncols, j->s.K, 1, A, j->s.K, B, ldb, 0, C + n0, j->s.N);
    finish_block(j->p, C, j->s.N, g * j->s.M, 0, j->s.M, n0, n1);
}

/* Filter split, step 1: task = input channel of group j->g, unfolded into
 * the shared buffer (thread 0's scratch). */
static void unfold_task(void *arg, int c, int thread)
{
    (void)thread;
    const conv_job *j = arg;
    const ecn_layer *l = j->l;
    ecn_im2col_rows(group_input(j, j->g), l->in.h, l->in.w, j->p->size, j->p->stride, j->p->pad,
                    l->out.w, c, c + 1, 0, l->out.h, j->ctx->scratch[0], j->s.N);
}

/* Filter split, step 2: task = block of filters of group j->g. */
static void filter_task(void *arg, int blk, int thread)
{
    (void)thread;
    const conv_job *j = arg;
    int m0 = blk * j->block, m1 = m0 + j->block < j->s.M ? m0 + j->block : j->s.M;
    const float *B = j->s.direct ? group_input(j, j->g) : j->ctx->scratch[0];
    const float *A = j->p->weights + ((size_t)j->g * j->s.M + m0) * j->s.K;
    float *C = j->out + (size_t)j->g * j->s.M * j->s.N;
    ecn_gemm(0, 0, m1 - m0, j->s.N, j->s.K, 1, A, j->s.K, B, j->s.N, 0, C + (size_t)m0 * j->s.N,
             j->s.N);
    finish_block(j->p, C, j->s.N, j->g * j->s.M, m0, m1, 0, j->s.N);
}

static void conv_forward_train(ecn_layer *l, const float *const *in, const ecn_ctx *ctx);

static void conv_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    if (ctx->train) {
        conv_forward_train(l, in, ctx);
        return;
    }
    conv_job j = {.l = l, .p = l->p, .s = shape_of(l), .ctx = ctx};
    j.bands = (l->out.h + j.s.rows_per_task - 1) / j.s.rows_per_task;
    /* One block of filters per thread (rounded to 16 rows): few, large gemms. */
    j.block = (j.s.M + l->threads - 1) / l->threads;
    j.block = (j.block + 15) / 16 * 16;
    j.blocks = (j.s.M + j.block - 1) / j.block;
    for (int b = 0; b < l->batch; b++) {
        j.in = in[0] + (size_t)b * ecn_layer_inputs(l);
        j.out = l->output + (size_t)b * ecn_layer_outputs(l);
        if (!j.s.filter_split) {
            ecn_pool_run(ctx->pool, j.p->groups * j.bands, row_task, &j);
            continue;
        }
        /* The groups share one unfolding buffer, so they run one after another. */
        for (j.g = 0; j.g < j.p->groups; j.g++) {
            if (!j.s.direct) ecn_pool_run(ctx->pool, j.s.cg, unfold_task, &j);
            ecn_pool_run(ctx->pool, j.blocks, filter_task, &j);
        }
    }
}

/* ---- training -------------------------------------------------------
 *
 * Training works image by image, one image per task, so that threads never
 * share a buffer: each unfolds its image into its own scratch, and weight
 * gradients go to per-thread accumulators that are summed at the end.
 *
 * Backward, with D = -dL/d(output) after the activation's and the batch
 * norm's derivatives have been applied (see src/cpu/batchnorm.h):
 *   bias_grad[f]  += sum over positions of D[f]
 *   weight_grad   += D (F x HW) * COL^T (HW x CK²)
 *   in_delta      += col2im( W^T (CK² x F) * D )
 */

static int conv_train_begin(ecn_layer *l, ecn_err *err)
{
    conv *p = l->p;
    size_t nw = weight_count(l), nf = (size_t)p->filters;
    size_t nout = ecn_layer_outputs(l) * (size_t)l->batch;
    p->weight_grad = calloc(nw, sizeof(float));
    p->bias_grad = calloc(nf, sizeof(float));
    p->thread_grads = calloc(nw * (size_t)l->threads, sizeof(float));
    int ok = p->weight_grad && p->bias_grad && p->thread_grads;
    if (p->batch_normalize) {
        p->scale_grad = calloc(nf, sizeof(float));
        p->x = calloc(nout, sizeof(float));
        p->x_norm = calloc(nout, sizeof(float));
        p->batch_mean = calloc(nf, sizeof(float));
        p->batch_var = calloc(nf, sizeof(float));
        ok = ok && p->scale_grad && p->x && p->x_norm && p->batch_mean && p->batch_var;
    }
    if (!ok) {
        snprintf(err->msg, sizeof err->msg, "out of memory for training state");
        return -1;
    }
    p->training = 1;
    return 0;
}

static int conv_params(ecn_layer *l, ecn_param *out, int max)
{
    conv *p = l->p;
    if (max < 3 || !p->training) return 0;
    int n = 0;
    out[n++] = (ecn_param){"weights", p->weights, p->weight_grad, weight_count(l), 1};
    out[n++] = (ecn_param){"biases", p->biases, p->bias_grad, (size_t)p->filters, 0};
    if (p->batch_normalize)
        out[n++] = (ecn_param){"scales", p->scales, p->scale_grad, (size_t)p->filters, 0};
    return n;
}

typedef struct train_job {
    ecn_layer *l;
    const conv *p;
    conv_shape s;
    const float *in;    /* whole batch */
    float *in_delta;    /* whole batch, or NULL */
    const ecn_ctx *ctx;
} train_job;

/* Unfold group g of image `img` into col (K x N), or point at the input. */
static const float *columns(const train_job *j, const float *image, int g, float *col)
{
    const ecn_layer *l = j->l;
    const float *gin = image + (size_t)g * j->s.cg * l->in.h * l->in.w;
    if (j->s.direct) return gin;
    ecn_im2col_rows(gin, l->in.h, l->in.w, j->p->size, j->p->stride, j->p->pad, l->out.w, 0, j->s.cg,
                    0, l->out.h, col, j->s.N);
    return col;
}

static void forward_image_task(void *arg, int img, int thread)
{
    const train_job *j = arg;
    ecn_layer *l = j->l;
    const float *image = j->in + (size_t)img * ecn_layer_inputs(l);
    float *out = l->output + (size_t)img * ecn_layer_outputs(l);
    for (int g = 0; g < j->p->groups; g++) {
        const float *B = columns(j, image, g, j->ctx->scratch[thread]);
        ecn_gemm(0, 0, j->s.M, j->s.N, j->s.K, 1, j->p->weights + (size_t)g * j->s.M * j->s.K, j->s.K,
                 B, j->s.N, 0, out + (size_t)g * j->s.M * j->s.N, j->s.N);
    }
    if (!j->p->batch_normalize) finish_block(j->p, out, j->s.N, 0, 0, j->p->filters, 0, j->s.N);
}

/* Batch norm, scale, bias and activation of filter f over the whole batch. */
static void normalize_filter_task(void *arg, int f, int thread)
{
    (void)thread;
    const train_job *j = arg;
    const ecn_layer *l = j->l;
    conv *p = (conv *)j->p;
    int S = j->s.N, F = p->filters;
    ecn_bn_statistics_channel(p->x, l->batch, F, S, f, &p->batch_mean[f], &p->batch_var[f]);
    ecn_bn_normalize_channel(p->x, p->batch_mean[f], p->batch_var[f], l->batch, F, S, f, p->x_norm);
    for (int b = 0; b < l->batch; b++) {
        size_t at = ((size_t)b * F + f) * S;
        float *out = l->output + at, sc = p->scales[f], bias = p->biases[f];
        const float *xn = p->x_norm + at;
        for (int i = 0; i < S; i++) out[i] = sc * xn[i] + bias;
        ecn_activate(out, (size_t)S, p->act);
    }
}

static void conv_forward_train(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    conv *p = l->p;
    train_job j = {l, p, shape_of(l), in[0], NULL, ctx};
    ecn_pool_run(ctx->pool, l->batch, forward_image_task, &j);
    if (!p->batch_normalize) return;
    ecn_copy(l->output, ecn_layer_outputs(l) * (size_t)l->batch, p->x);
    ecn_pool_run(ctx->pool, p->filters, normalize_filter_task, &j);
    ecn_bn_update_rolling(p->batch_mean, p->batch_var, p->filters, p->mean, p->var);
}

static void backward_image(const train_job *j, int img, int thread)
{
    const ecn_layer *l = j->l;
    const conv_shape *s = &j->s;
    const float *image = j->in + (size_t)img * ecn_layer_inputs(l);
    const float *delta = l->delta + (size_t)img * ecn_layer_outputs(l);
    float *col = j->ctx->scratch[thread], *col_delta = col + (size_t)s->K * s->N;
    float *grad = j->p->thread_grads + (size_t)thread * weight_count(l);
    for (int g = 0; g < j->p->groups; g++) {
        const float *dg = delta + (size_t)g * s->M * s->N;
        const float *W = j->p->weights + (size_t)g * s->M * s->K;
        const float *B = columns(j, image, g, col);
        ecn_gemm(0, 1, s->M, s->K, s->N, 1, dg, s->N, B, s->N, 1, grad + (size_t)g * s->M * s->K, s->K);
        if (!j->in_delta) continue;
        float *gd = j->in_delta + (size_t)img * ecn_layer_inputs(l) + (size_t)g * s->cg * l->in.h * l->in.w;
        if (s->direct) {
            ecn_gemm(1, 0, s->K, s->N, s->M, 1, W, s->K, dg, s->N, 1, gd, s->N);
        } else {
            ecn_gemm(1, 0, s->K, s->N, s->M, 1, W, s->K, dg, s->N, 0, col_delta, s->N);
            ecn_col2im(col_delta, s->cg, l->in.h, l->in.w, j->p->size, j->p->stride, j->p->pad,
                       l->out.h, l->out.w, gd);
        }
    }
}

/* Filter f's delta through the activation and the batch norm (or bias),
 * over the whole batch: -dL/d(convolution output). */
static void delta_filter_task(void *arg, int f, int thread)
{
    (void)thread;
    const train_job *j = arg;
    const ecn_layer *l = j->l;
    conv *p = (conv *)j->p;
    int S = j->s.N, F = p->filters;
    double bias = 0;
    for (int b = 0; b < l->batch; b++) {
        size_t at = ((size_t)b * F + f) * S;
        ecn_gradient(l->output + at, (size_t)S, p->act, l->delta + at);
        float part = 0;
        for (int i = 0; i < S; i++) part += l->delta[at + i];
        bias += part;
    }
    p->bias_grad[f] += (float)bias;
    if (p->batch_normalize)
        ecn_bn_backward_channel(p->x, p->x_norm, p->batch_mean[f], p->batch_var[f], p->scales[f], l->batch,
                                F, S, f, l->delta, &p->scale_grad[f]);
}

/* Task t takes images t, t + T, t + 2T, ... into accumulator t: a fixed
 * split, so that the sums, and the trained weights, do not depend on which
 * thread ran first. */
static void backward_share_task(void *arg, int task, int thread)
{
    const train_job *j = arg;
    (void)thread;
    for (int img = task; img < j->l->batch; img += j->l->threads) backward_image(j, img, task);
}

static void conv_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                          const ecn_ctx *ctx)
{
    conv *p = l->p;
    train_job j = {l, p, shape_of(l), in[0], in_delta[0], ctx};
    size_t nw = weight_count(l);
    ecn_pool_run(ctx->pool, p->filters, delta_filter_task, &j);
    memset(p->thread_grads, 0, nw * (size_t)l->threads * sizeof(float));
    ecn_pool_run(ctx->pool, l->threads, backward_share_task, &j);
    for (int t = 0; t < l->threads; t++) ecn_axpy(nw, 1, p->thread_grads + (size_t)t * nw, p->weight_grad);
}

/* ---- GPU inference ----------------------------------------------------
 *
 * The same product as the CPU's, image by image and group by group:
 * im2col into the device scratch (skipped for direct 1x1 kernels), one
 * gemm of the group's filters, then bias, unfolded batch norm and the
 * activation fused in one pass over the output (cuda/activations.cu).  With
 * the cuDNN backend, cuDNN computes the convolution of the whole batch and
 * the same fused pass follows.  Device parameters: weights, biases, and
 * while batch norm is not folded, scales, rolling mean and variance. */
#ifdef ECN_GPU
static int conv_gpu_params(const ecn_layer *l, const float **host, size_t *count)
{
    const conv *p = l->p;
    int n = 0;
    host[n] = p->weights, count[n++] = weight_count(l);
    host[n] = p->biases, count[n++] = (size_t)p->filters;
    if (p->batch_normalize && !p->folded) {
        host[n] = p->scales, count[n++] = (size_t)p->filters;
        host[n] = p->mean, count[n++] = (size_t)p->filters;
        host[n] = p->var, count[n++] = (size_t)p->filters;
    }
    return n;
}

static size_t conv_gpu_scratch(const ecn_layer *l)
{
    conv_shape s = shape_of(l);
    return s.direct ? 0 : (size_t)s.K * s.N;
}

static int conv_gpu_products(ecn_layer *l, const float *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    const conv *p = l->p;
    conv_shape s = shape_of(l);
    size_t in_plane = (size_t)l->in.h * l->in.w;
    for (int b = 0; b < l->batch; b++)
        for (int g = 0; g < p->groups; g++) {
            const float *gin = in + b * ecn_layer_inputs(l) + (size_t)g * s.cg * in_plane;
            float *out = l->gpu.output + b * ecn_layer_outputs(l) + (size_t)g * s.M * s.N;
            const float *W = l->gpu.param[0] + (size_t)g * s.M * s.K;
            if (!s.direct && ecn_gpu_im2col(gin, s.cg, l->in.h, l->in.w, p->size, p->stride, p->pad, l->out.h,
                                            l->out.w, ctx->scratch, err))
                return -1;
            const float *B = s.direct ? gin : ctx->scratch;
            if (ecn_gpu_gemm_with(ctx->backend, 0, 0, s.M, s.N, s.K, 1, W, s.K, B, s.N, 0, out, s.N, err)) return -1;
        }
    return 0;
}

static int conv_gpu_cudnn(ecn_layer *l, const float *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    const conv *p = l->p;
    ecn_gpu_conv g = {l->batch, l->in.c, l->in.h, l->in.w, p->filters, p->size, p->stride, p->pad, p->groups,
                      l->out.h, l->out.w};
    return ecn_gpu_conv_cudnn(&g, in, l->gpu.param[0], l->gpu.output, ctx->scratch,
                              ctx->scratch_floats * sizeof(float), err);
}

static int conv_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    const conv *p = l->p;
    int unfolded = p->batch_normalize && !p->folded;
    int rc = ctx->backend == ECN_GPU_CUDNN ? conv_gpu_cudnn(l, in[0], ctx, err) : conv_gpu_products(l, in[0], ctx, err);
    if (rc) return -1;
    float *const *d = l->gpu.param;
    return ecn_gpu_bias_activate(l->gpu.output, l->gpu.output, d[1], unfolded ? d[2] : NULL, d[3], d[4], l->batch,
                                 p->filters, l->out.h * l->out.w, p->act, err);
}
#endif

const ecn_layer_ops ecn_convolutional_ops = {
    .name = "convolutional",
    .make = conv_make,
    .forward = conv_forward,
    .flops = conv_flops,
    .scratch_floats = conv_scratch,
    .load = conv_load,
    .save = conv_save,
    .randomize = conv_randomize,
    .fold_batchnorm = conv_fold,
    .describe = conv_describe,
    .param_count = conv_param_count,
    .destroy = conv_destroy,
    .train_begin = conv_train_begin,
    .backward = conv_backward,
    .params = conv_params,
    .gpu_params = ECN_GPU_OP(conv_gpu_params),
    .forward_gpu = ECN_GPU_OP(conv_forward_gpu),
    .gpu_scratch_floats = ECN_GPU_OP(conv_gpu_scratch),
};
