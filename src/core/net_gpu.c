/* net_gpu.c - running a network's inference on a CUDA device.
 *
 * ecn_net_to_gpu gives every layer device twins (layer.h's ecn_gpu_layer).
 * Outputs live in a device arena laid out exactly as the host arena, so the
 * liveness plan of net.c holds on both sides:
 *
 *   l->gpu.output = d_arena + (l->output - net->arena)
 *
 * Parameters are what each layer's gpu_params lists, uploaded once, and
 * again when net->params_version moved (a load, a fold, a randomize).
 *
 * A forward pass over layers [from, to):
 *   1. host -> device: the network input, if a layer of the range reads it,
 *      and every output computed before `from` that the range reads (a
 *      cloud's decoded cut set);
 *   2. each layer's forward_gpu, activations staying on the device; at the
 *      [split] of a whole-network run the cut set goes to the host, through
 *      the split's round trip (quantize, code, frame, decode: split.c) and
 *      back; with a hook, each output comes to the host for it;
 *   3. device -> host: the last layer's output, the kept outputs (detector
 *      and exit heads) and the buffers that layers after `to` read (an
 *      edge's cut set).
 *
 * A CPU-only build keeps the public functions, which say that the build has
 * no GPU support.
 */
#include <stdlib.h>

#include "error.h"
#include "net.h"

#define NO_GPU "this build has no GPU support (make GPU=1)"

#ifdef ECN_GPU

#include "cuda/gpu.h"

struct ecn_net_gpu {
    int device;
    ecn_gpu_backend backend;
    float *arena;            /* the device twin of net->arena */
    float *input;            /* batch * input floats; NULL when no layer reads the input */
    float *scratch;
    size_t scratch_floats;
    unsigned params_version; /* of the parameters on the device */
    int failed;              /* the last forward pass failed, `error` says why */
    ecn_err error;
};

int ecn_gpu_built(void) { return 1; }

int ecn_gpu_count(ecn_err *err)
{
    int n = ecn_gpu_devices(err);
    return n > 0 ? n : 0;
}

static size_t output_bytes(const ecn_layer *l) { return ecn_layer_outputs(l) * (size_t)l->batch * sizeof(float); }

int ecn_gpu_forward_copy(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err)
{
    (void)ctx;
    return ecn_gpu_copy(l->gpu.output, in[0], output_bytes(l), err);
}

/* ---- device memory ----------------------------------------------------- */

static void free_params(ecn_layer *l)
{
    for (int k = 0; k < ECN_GPU_MAX_PARAMS; k++) {
        ecn_gpu_free(l->gpu.param[k]);
        l->gpu.param[k] = NULL;
    }
}

static int upload_params(ecn_net *net, ecn_err *err)
{
    for (int i = 0; i < net->n; i++) {
        ecn_layer *l = &net->layers[i];
        free_params(l);
        if (!l->ops->gpu_params) continue;
        const float *host[ECN_GPU_MAX_PARAMS];
        size_t count[ECN_GPU_MAX_PARAMS];
        int n = l->ops->gpu_params(l, host, count);
        for (int k = 0; k < n; k++) {
            size_t bytes = count[k] * sizeof(float);
            l->gpu.param[k] = ecn_gpu_alloc(bytes, err);
            if (!l->gpu.param[k] || ecn_gpu_upload(l->gpu.param[k], host[k], bytes, err))
                return ecn_fail_prefix(err, "parameters of layer %d ([%s], cfg line %d)", i, l->ops->name, l->line);
        }
    }
    net->gpu->params_version = net->params_version;
    return 0;
}

static int reads_input(const ecn_net *net)
{
    for (int i = 0; i < net->n; i++)
        for (int k = 0; k < net->layers[i].n_sources; k++)
            if (net->layers[i].sources[k] < 0) return 1;
    return 0;
}

static size_t scratch_need(const ecn_net *net)
{
    size_t need = 0;
    for (int i = 0; i < net->n; i++) {
        const ecn_layer *l = &net->layers[i];
        size_t s = l->ops->gpu_scratch_floats ? l->ops->gpu_scratch_floats(l) : 0;
        if (s > need) need = s;
    }
    return need;
}

static int alloc_device(ecn_net *net, ecn_err *err)
{
    struct ecn_net_gpu *g = net->gpu;
    size_t input_bytes = ecn_shape_size(net->input) * (size_t)net->batch * sizeof(float);
    g->scratch_floats = scratch_need(net);
    if (!(g->arena = ecn_gpu_alloc(net->arena_floats * sizeof(float), err))) return -1;
    if (reads_input(net) && !(g->input = ecn_gpu_alloc(input_bytes, err))) return -1;
    if (!(g->scratch = ecn_gpu_alloc(g->scratch_floats * sizeof(float), err))) return -1;
    for (int i = 0; i < net->n; i++) {
        ecn_layer *l = &net->layers[i];
        l->gpu.output = l->output ? g->arena + (l->output - net->arena) : NULL;
    }
    return 0;
}

void ecn_net_gpu_release(ecn_net *net)
{
    struct ecn_net_gpu *g = net->gpu;
    if (!g) return;
    ecn_gpu_use(g->device, NULL); /* free on the device that holds it */
    for (int i = 0; i < net->n; i++) {
        free_params(&net->layers[i]);
        net->layers[i].gpu.output = NULL;
    }
    ecn_gpu_free(g->arena);
    ecn_gpu_free(g->input);
    ecn_gpu_free(g->scratch);
    free(g);
    net->gpu = NULL;
}

/* ---- choosing the device ------------------------------------------------- */

static int check_layers(const ecn_net *net, ecn_err *err)
{
    if (net->training)
        return ecn_fail(err, "the network is being trained, and training runs on the CPU only");
    for (int i = 0; i < net->n; i++) {
        const ecn_layer *l = &net->layers[i];
        if (!l->ops->forward_gpu)
            return ecn_fail(err, "layer %d ([%s], cfg line %d) has no GPU implementation: this network runs on "
                            "the CPU only", i, l->ops->name, l->line);
    }
    return 0;
}

static ecn_gpu_backend best_backend(void)
{
    return ecn_gpu_has_cudnn() ? ECN_GPU_CUDNN : ecn_gpu_has_cublas() ? ECN_GPU_CUBLAS : ECN_GPU_KERNELS;
}

int ecn_net_to_gpu(ecn_net *net, int device, ecn_err *err)
{
    if (check_layers(net, err) || ecn_gpu_use(device, err)) return -1;
    ecn_net_gpu_release(net);
    net->gpu = calloc(1, sizeof *net->gpu);
    if (!net->gpu) return ecn_fail(err, "out of memory");
    net->gpu->device = device;
    net->gpu->backend = best_backend();
    if (alloc_device(net, err) || upload_params(net, err)) {
        ecn_net_gpu_release(net);
        return ecn_fail_prefix(err, "GPU %d", device);
    }
    return 0;
}

void ecn_net_to_cpu(ecn_net *net) { ecn_net_gpu_release(net); }

int ecn_net_gpu_device(const ecn_net *net) { return net->gpu ? net->gpu->device : -1; }

int ecn_net_gpu_set_backend(ecn_net *net, ecn_gpu_backend backend, ecn_err *err)
{
    if (!net->gpu) return ecn_fail(err, "the network is not on a GPU (ecn_net_to_gpu first)");
    if (backend == ECN_GPU_CUBLAS && !ecn_gpu_has_cublas())
        return ecn_fail(err, "this build has no cuBLAS (make GPU=1 CUBLAS=1)");
    if (backend == ECN_GPU_CUDNN && !ecn_gpu_has_cudnn())
        return ecn_fail(err, "this build has no cuDNN (make GPU=1 CUDNN=1)");
    if (backend != ECN_GPU_KERNELS && backend != ECN_GPU_CUBLAS && backend != ECN_GPU_CUDNN)
        return ecn_fail(err, "unknown GPU backend %d", (int)backend);
    net->gpu->backend = backend;
    return 0;
}

const char *ecn_net_gpu_error(const ecn_net *net)
{
    return net->gpu && net->gpu->failed ? net->gpu->error.msg : NULL;
}

/* ---- the forward pass ------------------------------------------------------ */

/* Host to device: the network input and the outputs computed before `from`
 * that layers [from, to) read. */
static int upload_sources(ecn_net *net, const float *input, int from, int to, ecn_err *err)
{
    int input_sent = 0;
    for (int j = from; j < to; j++) {
        const ecn_layer *l = &net->layers[j];
        for (int k = 0; k < l->n_sources; k++) {
            int s = l->sources[k];
            if (s < 0 && !input_sent) {
                if (!input) return ecn_fail(err, "layer %d reads the network input, but none was given", j);
                size_t bytes = ecn_shape_size(net->input) * (size_t)net->batch * sizeof(float);
                if (ecn_gpu_upload(net->gpu->input, input, bytes, err)) return -1;
                input_sent = 1;
            } else if (s >= 0 && s < from) {
                const ecn_layer *src = &net->layers[s];
                if (ecn_gpu_upload(src->gpu.output, src->output, output_bytes(src), err)) return -1;
            }
        }
    }
    return 0;
}

/* Does a layer at or after `to` read the buffer `buf`? */
static int read_later(const ecn_net *net, const float *buf, int to)
{
    for (int j = to; j < net->n; j++)
        for (int k = 0; k < net->layers[j].n_sources; k++) {
            int s = net->layers[j].sources[k];
            if (s >= 0 && net->layers[s].output == buf) return 1;
        }
    return 0;
}

/* Device to host: what the host reads after layers [from, to). */
static int download_outputs(ecn_net *net, int from, int to, ecn_err *err)
{
    for (int k = from; k < to; k++) {
        ecn_layer *l = &net->layers[k];
        if (!l->keep_output && k != to - 1 && !read_later(net, l->output, to)) continue;
        if (ecn_gpu_download(l->output, l->gpu.output, output_bytes(l), err)) return -1;
    }
    return 0;
}

/* The [split]'s round trip, on the host, of the cut set. */
static int cross_split(ecn_net *net, const ecn_ctx *ctx, ecn_err *err)
{
    for (int k = 0; k < net->n_cut; k++) {
        ecn_layer *l = &net->layers[net->cut[k]];
        if (ecn_gpu_download(l->output, l->gpu.output, output_bytes(l), err)) return -1;
    }
    ecn_net_cross_split(net, ctx);
    for (int k = 0; k < net->n_cut; k++) {
        ecn_layer *l = &net->layers[net->cut[k]];
        if (ecn_gpu_upload(l->gpu.output, l->output, output_bytes(l), err)) return -1;
    }
    return 0;
}

static int run_layer(ecn_net *net, ecn_layer *l, const ecn_gpu_ctx *gctx, ecn_err *err)
{
    const float *in[ECN_MAX_SOURCES];
    for (int k = 0; k < l->n_sources; k++)
        in[k] = l->sources[k] < 0 ? net->gpu->input : net->layers[l->sources[k]].gpu.output;
    if (l->ops->forward_gpu(l, in, gctx, err))
        return ecn_fail_prefix(err, "layer %d ([%s], cfg line %d)", l->index, l->ops->name, l->line);
    return 0;
}

static int run_range(ecn_net *net, const float *input, int from, int to, ecn_layer_hook hook, void *user,
                     ecn_err *err)
{
    struct ecn_net_gpu *g = net->gpu;
    ecn_gpu_ctx gctx = {g->scratch, g->scratch_floats, g->backend};
    ecn_ctx ctx = {net->pool, net->scratch, net->scratch_floats, 0, NULL, 0, &net->rng};
    int whole = from == 0 && to == net->n;
    if (ecn_gpu_use(g->device, err)) return -1;
    if (g->params_version != net->params_version && upload_params(net, err)) return -1;
    if (upload_sources(net, input, from, to, err)) return -1;
    for (int i = from; i < to; i++) {
        ecn_layer *l = &net->layers[i];
        if (run_layer(net, l, &gctx, err)) return -1;
        if (i == net->split && whole && cross_split(net, &ctx, err)) return -1;
        if (!hook) continue;
        if (ecn_gpu_download(l->output, l->gpu.output, output_bytes(l), err)) return -1;
        hook(user, i, l->output, ecn_layer_outputs(l) * (size_t)l->batch);
    }
    return download_outputs(net, from, to, err);
}

const float *ecn_net_gpu_forward_range(ecn_net *net, const float *input, int from, int to, ecn_layer_hook hook,
                                       void *user)
{
    if (from < 0) from = 0;
    if (to > net->n) to = net->n;
    net->gpu->failed = 0;
    if (run_range(net, input, from, to, hook, user, &net->gpu->error)) {
        net->gpu->failed = 1;
        return NULL;
    }
    return to > 0 ? net->layers[to - 1].output : NULL;
}

#else /* a CPU-only build */

int ecn_gpu_built(void) { return 0; }

int ecn_gpu_count(ecn_err *err)
{
    ecn_fail(err, NO_GPU);
    return 0;
}

int ecn_net_to_gpu(ecn_net *net, int device, ecn_err *err)
{
    (void)net, (void)device;
    return ecn_fail(err, NO_GPU);
}

void ecn_net_to_cpu(ecn_net *net) { (void)net; }

int ecn_net_gpu_device(const ecn_net *net)
{
    (void)net;
    return -1;
}

int ecn_net_gpu_set_backend(ecn_net *net, ecn_gpu_backend backend, ecn_err *err)
{
    (void)net, (void)backend;
    return ecn_fail(err, NO_GPU);
}

const char *ecn_net_gpu_error(const ecn_net *net)
{
    (void)net;
    return NULL;
}

/* Never called: net->gpu stays NULL without GPU support. */
const float *ecn_net_gpu_forward_range(ecn_net *net, const float *input, int from, int to, ecn_layer_hook hook,
                                       void *user)
{
    (void)net, (void)input, (void)from, (void)to, (void)hook, (void)user;
    return NULL;
}

void ecn_net_gpu_release(ecn_net *net) { (void)net; }

#endif
