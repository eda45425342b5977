/* connected.c - [connected]: a fully connected layer.
 *
 * The input image (c x h x w) is read as one vector x of n = c*h*w values:
 *
 *   y[o] = sum over j < n of W[o][j] * x[j]                  o < outputs
 *   without batch norm:  out[o] = act(y[o] + bias[o])
 *   with batch norm:     out[o] = act(scale[o] * (y[o] - mean[o]) / (sqrt(var[o]) + eps) + bias[o])
 *
 * W is stored outputs x inputs, row-major, so the whole batch is one gemm:
 * OUT (batch x outputs) = X (batch x inputs) * W^T.  The output is
 * 1 x 1 x outputs.  Defaults: output=1, activation=logistic,
 * batch_normalize=0.
 *
 * .weights order: bias[outputs], W[outputs*inputs] (files older than 0.2
 * hold W transposed: inputs x outputs), then with batch norm scale, mean,
 * var [outputs] each.
 *
 * Folding batch norm for inference: with f = scale / (sqrt(var) + eps),
 * W[o][*] *= f[o] and bias[o] -= f[o] * mean[o]; the forward pass then
 * skips the normalisation.
 *
 * Training forward: the same, except that batch norm uses the batch's own
 * statistics (src/cpu/batchnorm.h: x_norm = (y - mean_batch) /
 * sqrt(var_batch + 1e-5), and the rolling statistics move 1% towards them).
 * Backward, for the batch as matrices DELTA (batch x outputs) and X (batch x
 * inputs):
 *
 *   DELTA *= act'(out)                     (through the activation)
 *   bias_grad[o] += sum over the batch of DELTA[b][o]
 *   with batch norm: scale_grad[o] += sum DELTA[b][o] * x_norm[b][o], and
 *                    DELTA becomes -dL/dy through the normalisation
 *                    (ecn_bn_backward, batch statistics included)
 *   W_grad   += DELTA^T X                  (outputs x inputs)
 *   in_delta += DELTA W                    (batch x inputs)
 *
 * Grads accumulate (-dL/dparam) until the optimizer takes them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/layer.h"
#include "cpu/activations.h"
#include "cpu/batchnorm.h"
#include "cpu/blas.h"
#include "cpu/gemm.h"

#ifdef ECN_GPU
#include "cuda/gpu.h"
#endif

typedef struct connected_params {
    int inputs, outputs;
    ecn_activation act;
    int batch_normalize;
    int folded;             /* batch norm folded into weights and biases */
    float *weights;         /* outputs x inputs */
    float *biases;          /* outputs */
    float *scales, *mean, *var; /* outputs each, only with batch_normalize */
    /* training only (train_begin): */
    float *weight_grad;     /* outputs x inputs */
    float *bias_grad;       /* outputs, then scale_grad[outputs] with batch norm */
    float *bn_cache;        /* batch norm: y, x_norm (batch x outputs), mean, var (outputs) */
} connected_params;

static int parse_activation(ecn_opts *o, const char *key, const char *def, ecn_activation *a)
{
    const char *name = ecn_opt_str(o, key, def);
    if (o->failed) return -1;
    if (ecn_activation_parse(name, a) == 0) return 0;
    ecn_opt_fail(o, key, "unknown activation \"%s\": expected one of %s", name,
                 ecn_activation_names());
    return -1;
}

static void connected_free(connected_params *p)
{
    if (!p) return;
    free(p->weights);
    free(p->biases);
    free(p->scales);
    free(p->weight_grad);
    free(p->bias_grad);
    free(p->bn_cache);
    free(p);
}

/* Parameters start as Darknet's: zero weights and biases, identity batch norm. */
static connected_params *connected_alloc(int inputs, int outputs, int bn)
{
    connected_params *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->inputs = inputs;
    p->outputs = outputs;
    p->batch_normalize = bn;
    p->weights = calloc((size_t)inputs * outputs, sizeof *p->weights);
    p->biases = calloc((size_t)outputs, sizeof *p->biases);
    if (bn) p->scales = calloc(3 * (size_t)outputs, sizeof *p->scales);
    if (!p->weights || !p->biases || (bn && !p->scales)) {
        connected_free(p);
        return NULL;
    }
    if (bn) {
        p->mean = p->scales + outputs;
        p->var = p->scales + 2 * (size_t)outputs;
        ecn_fill(p->scales, (size_t)outputs, 1);
        ecn_fill(p->var, (size_t)outputs, 1);
    }
    return p;
}

static int connected_make(ecn_layer *l, ecn_opts *o, const ecn_build *b)
{
    (void)b;
    int outputs = ecn_opt_int(o, "output", 1);
    ecn_activation act;
    if (parse_activation(o, "activation", "logistic", &act) < 0) return -1;
    int bn = ecn_opt_int(o, "batch_normalize", 0);
    if (o->failed) return -1;
    if (outputs <= 0) {
        ecn_opt_fail(o, "output", "expected output >= 1, got %d", outputs);
        return -1;
    }
    size_t inputs = ecn_layer_inputs(l);
    if (inputs == 0 || inputs > 0x7fffffff) {
        ecn_opt_fail(o, NULL, "expected between 1 and 2^31-1 inputs, got %zu", inputs);
        return -1;
    }
    connected_params *p = connected_alloc((int)inputs, outputs, bn != 0);
    if (!p) {
        ecn_opt_fail(o, NULL, "out of memory for %zu x %d weights", inputs, outputs);
        return -1;
    }
    p->act = act;
    l->p = p;
    l->out.c = outputs;
    l->out.h = 1;
    l->out.w = 1;
    return 0;
}

/* ---- forward -------------------------------------------------------- */

typedef struct connected_job {
    const ecn_layer *l;
    const float *in;
    int block; /* outputs per task */
} connected_job;

/* Task t computes outputs [t*block, (t+1)*block) for the whole batch. */
static void connected_gemm_task(void *arg, int task, int thread)
{
    (void)thread;
    const connected_job *job = arg;
    const connected_params *p = job->l->p;
    int o0 = task * job->block;
    int n = p->outputs - o0 < job->block ? p->outputs - o0 : job->block;
    ecn_gemm(0, 1, job->l->batch, n, p->inputs, 1, job->in, p->inputs,
             p->weights + (size_t)o0 * p->inputs, p->inputs, 0, job->l->output + o0,
             p->outputs);
}

/* Split the outputs so every thread gets a few blocks of at least 16 rows of W. */
static void connected_gemm(const ecn_layer *l, const float *in, const ecn_ctx *ctx)
{
    const connected_params *p = l->p;
    int threads = ctx && ctx->pool ? ecn_pool_threads(ctx->pool) : 1;
    int block = (p->outputs + 4 * threads - 1) / (4 * threads);
    if (block < 16) block = 16;
    int tasks = (p->outputs + block - 1) / block;
    connected_job job = {l, in, block};
    if (tasks > 1 && ctx && ctx->pool)
        ecn_pool_run(ctx->pool, tasks, connected_gemm_task, &job);
    else
        for (int t = 0; t < tasks; t++) connected_gemm_task(&job, t, 0);
}

/* The batch-norm cache: y (before normalisation), x_norm, mean, var. */
typedef struct bn_cache {
    float *y, *x_norm, *mean, *var;
} bn_cache;

static bn_cache bn_cache_of(const ecn_layer *l)
{
    const connected_params *p = l->p;
    size_t n = (size_t)l->batch * p->outputs;
    float *c = p->bn_cache;
    return (bn_cache){c, c + n, c + 2 * n, c + 2 * n + p->outputs};
}

/* Training batch norm of the gemm's result (in l->output), plus the bias. */
static void connected_bn_train(ecn_layer *l)
{
    const connected_params *p = l->p;
    bn_cache k = bn_cache_of(l);
    size_t n = (size_t)l->batch * p->outputs;
    ecn_copy(l->output, n, k.y);
    ecn_bn_statistics(k.y, l->batch, p->outputs, 1, k.mean, k.var);
    ecn_bn_update_rolling(k.mean, k.var, p->outputs, p->mean, p->var);
    ecn_bn_normalize(k.y, k.mean, k.var, l->batch, p->outputs, 1, k.x_norm);
    ecn_copy(k.x_norm, n, l->output);
    ecn_scale_bias(l->output, p->scales, l->batch, p->outputs, 1);
    ecn_add_bias(l->output, p->biases, l->batch, p->outputs, 1);
}

static void connected_forward(ecn_layer *l, const float *const *in, const ecn_ctx *ctx)
{
    const connected_params *p = l->p;
    connected_gemm(l, in[0], ctx);
    if (p->batch_normalize && p->bn_cache && ctx && ctx->train) {
        connected_bn_train(l);
        ecn_activate(l->output, (size_t)l->batch * p->outputs, p->act);
        return;
    }
    if (p->batch_normalize && !p->folded) {
        ecn_normalize(l->output, p->mean, p->var, l->batch, p->outputs, 1);
        ecn_scale_bias(l->output, p->scales, l->batch, p->outputs, 1);
    }
    ecn_add_bias(l->output, p->biases, l->batch, p->outputs, 1);
    ecn_activate(l->output, (size_t)l->batch * p->outputs, p->act);
}

/* ---- training ------------------------------------------------------- */

static int connected_train_begin(ecn_layer *l, ecn_err *err)
{
    connected_params *p = l->p;
    size_t outs = (size_t)p->outputs;
    if (p->folded)
        return ecn_fail(err, "connected layer %d: batch norm was folded into the weights; "
                        "training needs the unfolded parameters", l->index);
    if (!p->weight_grad)
        p->weight_grad = ecn_calloc((size_t)p->inputs * outs, sizeof(float), err);
    if (!p->bias_grad)
        p->bias_grad = ecn_calloc(outs * (p->batch_normalize ? 2 : 1), sizeof(float), err);
    if (p->batch_normalize && !p->bn_cache)
        p->bn_cache = ecn_calloc(2 * (size_t)l->batch * outs + 2 * outs, sizeof(float), err);
    if (!p->weight_grad || !p->bias_grad || (p->batch_normalize && !p->bn_cache)) return -1;
    return 0;
}

typedef struct connected_back_job {
    const ecn_layer *l;
    const float *in;
    float *in_delta;
    int block; /* rows of W (weight grads) or columns of W (input delta) per task */
} connected_back_job;

/* W_grad rows [o0, o0 + n) += DELTA[:, o0 : o0+n]^T X. */
static void weight_grad_task(void *arg, int task, int thread)
{
    (void)thread;
    const connected_back_job *job = arg;
    const connected_params *p = job->l->p;
    int o0 = task * job->block;
    int n = p->outputs - o0 < job->block ? p->outputs - o0 : job->block;
    ecn_gemm(1, 0, n, p->inputs, job->l->batch, 1, job->l->delta + o0, p->outputs, job->in,
             p->inputs, 1, p->weight_grad + (size_t)o0 * p->inputs, p->inputs);
}

/* in_delta columns [j0, j0 + n) += DELTA W[:, j0 : j0+n]. */
static void input_delta_task(void *arg, int task, int thread)
{
    (void)thread;
    const connected_back_job *job = arg;
    const connected_params *p = job->l->p;
    int j0 = task * job->block;
    int n = p->inputs - j0 < job->block ? p->inputs - j0 : job->block;
    ecn_gemm(0, 0, job->l->batch, n, p->outputs, 1, job->l->delta, p->outputs, p->weights + j0,
             p->inputs, 1, job->in_delta + j0, p->inputs);
}

/* Split `total` rows or columns into a few blocks (at least 16) per thread. */
static void run_blocks(const ecn_ctx *ctx, int total, ecn_task_fn fn, connected_back_job *job)
{
    int threads = ctx && ctx->pool ? ecn_pool_threads(ctx->pool) : 1;
    job->block = (total + 4 * threads - 1) / (4 * threads);
    if (job->block < 16) job->block = 16;
    int tasks = (total + job->block - 1) / job->block;
    if (tasks > 1 && ctx && ctx->pool)
        ecn_pool_run(ctx->pool, tasks, fn, job);
    else
        for (int t = 0; t < tasks; t++) fn(job, t, 0);
}

static void connected_backward(ecn_layer *l, const float *const *in, float *const *in_delta,
                               const ecn_ctx *ctx)
{
    connected_params *p = l->p;
    if (!p->weight_grad) return;
    size_t n = (size_t)l->batch * p->outputs;
    ecn_gradient(l->output, n, p->act, l->delta);
    ecn_bias_backward(l->delta, l->batch, p->outputs, 1, p->bias_grad);
    if (p->batch_normalize) {
        bn_cache k = bn_cache_of(l);
        ecn_bn_backward(k.y, k.x_norm, k.mean, k.var, p->scales, l->batch, p->outputs, 1, l->delta,
                        p->bias_grad + p->outputs);
    }
    connected_back_job job = {l, in[0], in_delta[0], 0};
    run_blocks(ctx, p->outputs, weight_grad_task, &job);
    if (in_delta[0]) run_blocks(ctx, p->inputs, input_delta_task, &job);
}

static int connected_params_list(ecn_layer *l, ecn_param *out, int max)
{
    connected_params *p = l->p;
    size_t outs = (size_t)p->outputs;
    int n = p->batch_normalize ? 3 : 2;
    if (!p->weight_grad || max < n) return 0;
    out[0] = (ecn_param){"weights", p->weights, p->weight_grad, (size_t)p->inputs * outs, 1};
    out[1] = (ecn_param){"biases", p->biases, p->bias_grad, outs, 0};
    if (p->batch_normalize) out[2] = (ecn_param){"scales", p->scales, p->bias_grad + outs, outs, 0};
    return n;
}

/* ---- weights file --------------------------------------------------- */

#define CHUNK 1024

/* Old files hold W as inputs x outputs: read in chunks and scatter. */
static int read_transposed(ecn_wfile *wf, connected_params *p)
{
    float buf[CHUNK];
    size_t total = (size_t)p->inputs * p->outputs;
    for (size_t t = 0; t < total; t += CHUNK) {
        size_t n = total - t < CHUNK ? total - t : CHUNK;
        if (ecn_wfile_read(wf, buf, n, "connected weights (transposed)") < 0) return -1;
        for (size_t k = 0; k < n; k++) {
            size_t j = (t + k) / p->outputs, o = (t + k) % p->outputs;
            p->weights[o * p->inputs + j] = buf[k];
        }
    }
    return 0;
}

static int write_transposed(ecn_wfile *wf, const connected_params *p)
{
    float buf[CHUNK];
    size_t total = (size_t)p->inputs * p->outputs;
    for (size_t t = 0; t < total; t += CHUNK) {
        size_t n = total - t < CHUNK ? total - t : CHUNK;
        for (size_t k = 0; k < n; k++) {
            size_t j = (t + k) / p->outputs, o = (t + k) % p->outputs;
            buf[k] = p->weights[o * p->inputs + j];
        }
        if (ecn_wfile_write(wf, buf, n) < 0) return -1;
    }
    return 0;
}

static int connected_load(ecn_layer *l, ecn_wfile *wf)
{
    connected_params *p = l->p;
    size_t outs = (size_t)p->outputs, ws = (size_t)p->inputs * outs;
    p->folded = 0;
    if (ecn_wfile_read(wf, p->biases, outs, "connected biases") < 0) return -1;
    if (ecn_wfile_transposed(wf)) {
        if (read_transposed(wf, p) < 0) return -1;
    } else if (ecn_wfile_read(wf, p->weights, ws, "connected weights") < 0) {
        return -1;
    }
    if (!p->batch_normalize) return 0;
    if (ecn_wfile_read(wf, p->scales, outs, "batch-norm scales") < 0) return -1;
    if (ecn_wfile_read(wf, p->mean, outs, "batch-norm rolling mean") < 0) return -1;
    return ecn_wfile_read(wf, p->var, outs, "batch-norm rolling variance");
}

static int connected_save(const ecn_layer *l, ecn_wfile *wf)
{
    const connected_params *p = l->p;
    size_t outs = (size_t)p->outputs, ws = (size_t)p->inputs * outs;
    if (ecn_wfile_write(wf, p->biases, outs) < 0) return -1;
    if (ecn_wfile_transposed(wf)) {
        if (write_transposed(wf, p) < 0) return -1;
    } else if (ecn_wfile_write(wf, p->weights, ws) < 0) {
        return -1;
    }
    if (!p->batch_normalize) return 0;
    if (ecn_wfile_write(wf, p->scales, outs) < 0) return -1;
    if (ecn_wfile_write(wf, p->mean, outs) < 0) return -1;
    return ecn_wfile_write(wf, p->var, outs);
}

/* ---- initialisation and folding ------------------------------------- */

/* Darknet's: W uniform in [-s, s] with s = sqrt(2 / inputs), zero biases,
 * identity batch norm. */
static void connected_randomize(ecn_layer *l, unsigned long long *rng)
{
    connected_params *p = l->p;
    size_t outs = (size_t)p->outputs, ws = (size_t)p->inputs * outs;
    float s = sqrtf(2.f / (float)p->inputs);
    for (size_t i = 0; i < ws; i++) p->weights[i] = s * (2 * ecn_rng_uniform(rng) - 1);
    ecn_fill(p->biases, outs, 0);
    if (p->batch_normalize) {
        ecn_fill(p->scales, outs, 1);
        ecn_fill(p->mean, outs, 0);
        ecn_fill(p->var, outs, 1);
    }
    p->folded = 0;
}

static int connected_fold_batchnorm(ecn_layer *l)
{
    connected_params *p = l->p;
    if (!p->batch_normalize || p->folded) return 0;
    for (int o = 0; o < p->outputs; o++) {
        float f = p->scales[o] / (sqrtf(p->var[o]) + ECN_BN_EPS);
        ecn_scale(p->weights + (size_t)o * p->inputs, (size_t)p->inputs, f);
        p->biases[o] -= f * p->mean[o];
    }
    p->folded = 1;
    return 1;
}

/* ---- description ---------------------------------------------------- */

static double connected_flops(const ecn_layer *l)
{
    const connected_params *p = l->p;
    return 2.0 * (double)p->inputs * (double)p->outputs;
}

static void connected_describe(const ecn_layer *l, char *buf, size_t n)
{
    const connected_params *p = l->p;
    snprintf(buf, n, "%d -> %d", p->inputs, p->outputs);
}

/* Weights, biases and (with batch norm) scales; the rolling statistics are
 * measured, not learnt. */
static size_t connected_param_count(const ecn_layer *l)
{
    const connected_params *p = l->p;
    size_t outs = (size_t)p->outputs;
    return (size_t)p->inputs * outs + outs + (p->batch_normalize ? outs : 0);
}

static void connected_destroy(ecn_layer *l)
{
    connected_free(l->p);
    l->p = NULL;
}


/* ---- GPU inference ----------------------------------------------------
 * One product for the whole batch, OUT = X W^T (cuda/gemm.cu), then bias,
 * unfolded batch norm and activation fused (cuda/activations.cu).  Device
 * parameters: weights, biases, and while batch norm is not folded, scales,
 * rolling mean and variance. */
#ifdef ECN_GPU
static int connected_gpu_params(const ecn_layer *l, const float **host, size_t *count)
{
    const connected_params *p = l->p;
    size_t outs = (size_t)p->outputs;
    int n = 0;
    host[n] = p->weights, count[n++] = (size_t)p->inputs * outs;
    host[n] = p->biases, count[n++] = outs;
    if (p->batch_normalize && !p->folded) {
        host[n] = p->scales, count[n++] = outs;
        host[n] = p->mean, count[n++] = outs;
        host[n] = p->var, count[n++] = outs;
    }
    return n;
}

static int connected_forward_gpu(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    const connected_params *p = l->p;
    float *const *d = l->gpu.param;
    int unfolded = p->batch_normalize && !p->folded;
    if (ecn_gpu_gemm_with(ctx->backend, 0, 1, l->batch, p->outputs, p->inputs, 1, in[0], p->inputs, d[0], p->inputs,
                          0, l->gpu.output, p->outputs, err))
        return -1;
    return ecn_gpu_bias_activate(l->gpu.output, l->gpu.output, d[1], unfolded ? d[2] : NULL, d[3], d[4], l->batch,
                                 p->outputs, 1, p->act, err);
}
#endif

const ecn_layer_ops ecn_connected_ops = {
    .name = "connected",
    .make = connected_make,
    .forward = connected_forward,
    .flops = connected_flops,
    .load = connected_load,
    .save = connected_save,
    .randomize = connected_randomize,
    .fold_batchnorm = connected_fold_batchnorm,
    .describe = connected_describe,
    .param_count = connected_param_count,
    .destroy = connected_destroy,
    .train_begin = connected_train_begin,
    .backward = connected_backward,
    .params = connected_params_list,
    .gpu_params = ECN_GPU_OP(connected_gpu_params),
    .forward_gpu = ECN_GPU_OP(connected_forward_gpu),
};
