/* layer.h - the common face of every layer.
 *
 * A layer is a small struct (type, shapes, buffers, which layers it reads)
 * plus a pointer to its ops table and to per-type parameters that only its
 * own file knows.  Each layer type lives in src/layers/<type>.c and exports
 * one ecn_layer_ops.
 */
#ifndef ECN_LAYER_H
#define ECN_LAYER_H

#include <stdio.h>

#include "../ecnet.h"
#include "cfg.h"
#include "pool.h"

#define ECN_MAX_SOURCES 16

typedef struct ecn_layer ecn_layer;
typedef struct ecn_layer_ops ecn_layer_ops;

/* What a layer's make() may look at while the network is being built. */
typedef struct ecn_build {
    const ecn_layer *layers; /* the layers made so far: [0, index) */
    int index;               /* this layer's position */
    int trunk_last;          /* the last layer of the main path (not of an exit branch) */
    ecn_shape input;         /* output shape of the previous layer (or the net input) */
    ecn_shape net_input;     /* the [net] section's input */
    int batch;
} ecn_build;

/* What a layer's forward() and backward() get besides their inputs. */
typedef struct ecn_ctx {
    ecn_pool *pool;        /* never NULL */
    float *const *scratch; /* one buffer per pool thread, scratch_floats each; they are
                            * consecutive, so scratch[0] spans threads * scratch_floats */
    size_t scratch_floats;
    int train;             /* training forward: batch statistics, dropout, losses */
    const float *truth;    /* training targets, truth_floats per image (NULL: none) */
    int truth_floats;
    unsigned long long *rng; /* training randomness (dropout) */
} ecn_ctx;

/* A learnable tensor, as the optimizer sees it.  `grad` accumulates
 * -dL/dvalue over a batch (Darknet's "updates"; the sign makes SGD an add). */
typedef struct ecn_param {
    const char *name;
    float *value;
    float *grad;
    size_t n;
    int decay; /* weight decay applies (weights yes, biases and scales no) */
} ecn_param;

#define ECN_MAX_PARAMS 8

/* ---- GPU inference (`make GPU=1`; see src/core/net_gpu.c) ------------- */

#define ECN_GPU_MAX_PARAMS 6

/* What a layer's forward_gpu() gets besides its inputs (device pointers). */
typedef struct ecn_gpu_ctx {
    float *scratch;        /* device scratch: the largest gpu_scratch_floats of the net */
    size_t scratch_floats;
    ecn_gpu_backend backend; /* hand-written kernels, cuBLAS or cuDNN (ecnet.h) */
} ecn_gpu_ctx;

/* A layer's device twins, made by ecn_net_to_gpu; all NULL on the CPU. */
typedef struct ecn_gpu_layer {
    float *output;                     /* device copy of `output` (same place in the arena) */
    float *param[ECN_GPU_MAX_PARAMS];  /* the arrays gpu_params listed, in that order */
} ecn_gpu_layer;

/* In an ops table: `.forward_gpu = ECN_GPU_OP(conv_forward_gpu)` names the
 * GPU function in GPU builds and leaves NULL in CPU builds, where the
 * function is not compiled. */
#ifdef ECN_GPU
#define ECN_GPU_OP(f) f
#else
#define ECN_GPU_OP(f) NULL
#endif

/* Darknet .weights file being read or written (see src/core/weights.c). */
typedef struct ecn_wfile ecn_wfile;
int ecn_wfile_read(ecn_wfile *wf, float *dst, size_t n, const char *what);
int ecn_wfile_write(ecn_wfile *wf, const float *src, size_t n);
int ecn_wfile_transposed(const ecn_wfile *wf); /* old files with transposed connected weights */

struct ecn_layer_ops {
    const char *name; /* section name */
    /* Read options, set out shape and sources, allocate parameters.  Errors
     * go through o (they name the cfg line). */
    int (*make)(ecn_layer *l, ecn_opts *o, const ecn_build *b);
    /* in[k] is the output of sources[k] (or the network input). */
    void (*forward)(ecn_layer *l, const float *const *in, const ecn_ctx *ctx);
    double (*flops)(const ecn_layer *l);                 /* optional */
    size_t (*scratch_floats)(const ecn_layer *l);        /* optional: per-thread scratch (floats) */
    int (*load)(ecn_layer *l, ecn_wfile *wf);            /* optional */
    int (*save)(const ecn_layer *l, ecn_wfile *wf);      /* optional */
    void (*randomize)(ecn_layer *l, unsigned long long *rng); /* optional */
    int (*fold_batchnorm)(ecn_layer *l);                 /* optional: 1 if it changed the weights */
    void (*describe)(const ecn_layer *l, char *buf, size_t n); /* optional: "32 3 x 3 / 1" */
    size_t (*param_count)(const ecn_layer *l);           /* optional */
    void (*destroy)(ecn_layer *l);                       /* optional: free params */
    /* ---- training (all optional) ----
     * train_begin allocates gradients and caches (inference never has them).
     * backward: l->delta holds -dL/d(output); add -dL/d(input k) into
     * in_delta[k] (NULL where no gradient is wanted) and accumulate the
     * parameters' grads.  params lists the learnable tensors for the optimizer. */
    int (*train_begin)(ecn_layer *l, ecn_err *err);
    void (*backward)(ecn_layer *l, const float *const *in, float *const *in_delta, const ecn_ctx *ctx);
    int (*params)(ecn_layer *l, ecn_param *out, int max);
    /* Detector heads: decode boxes (see src/detect/). */
    int (*detections)(const ecn_layer *l, const float *out, const ecn_detect_opts *opts,
                      ecn_shape net_input, ecn_detection *dets, int max);
    int (*max_detections)(const ecn_layer *l);
    /* ---- GPU inference (all optional; a layer without forward_gpu keeps
     * its network off the GPU) ----
     * gpu_params lists the host arrays the device needs (at most
     * ECN_GPU_MAX_PARAMS: host[k] of count[k] floats); they are uploaded to
     * l->gpu.param[k] (again whenever the parameters change).
     * forward_gpu is forward() at inference with device pointers: in[k] and
     * l->gpu.output are device memory.  Returns 0, or -1 with err filled. */
    int (*gpu_params)(const ecn_layer *l, const float **host, size_t *count);
    int (*forward_gpu)(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err);
    size_t (*gpu_scratch_floats)(const ecn_layer *l);
};

struct ecn_layer {
    const ecn_layer_ops *ops;
    int index;       /* position in the network */
    int line;        /* line of the section header in the cfg */
    int batch;
    int threads;     /* size of the network's thread pool */
    ecn_shape in;    /* shape of sources[0]'s output (per image) */
    ecn_shape out;   /* shape of this layer's output (per image) */
    int n_sources;   /* layers read: -1 is the network input */
    int sources[ECN_MAX_SOURCES];
    int in_place;    /* output aliases sources[0]'s output (no copy) */
    int keep_output; /* the output must survive the whole forward pass */
    float *output;   /* batch * out floats, placed by the memory planner */
    float *delta;    /* training only: -dL/d(output), batch * out floats */
    float loss;      /* loss layers: the loss of the last training forward */
    float loss_weight; /* loss layers: weight in the network's loss (1; an exit's weight) */
    int branch;      /* 0: the main path; k: a layer of early exit k (see exit.c) */
    void *p;         /* per-type parameters, owned by the layer's file */
    ecn_gpu_layer gpu; /* device twins (GPU inference only) */
};

#ifdef ECN_GPU
/* forward_gpu of the layers that are the identity at inference (dropout,
 * cost, exit, split): copies the input unless the output aliases it. */
int ecn_gpu_forward_copy(ecn_layer *l, const float *const *in, const ecn_gpu_ctx *ctx, ecn_err *err);
#endif

static inline size_t ecn_layer_outputs(const ecn_layer *l) { return ecn_shape_size(l->out); }
static inline size_t ecn_layer_inputs(const ecn_layer *l) { return ecn_shape_size(l->in); }

/* Registry of layer types (src/layers/registry.c). */
const ecn_layer_ops *ecn_layer_ops_find(const char *section_name);

/* Deterministic PRNG for parameter initialisation (splitmix64). */
static inline unsigned long long ecn_rng_next(unsigned long long *s)
{
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static inline float ecn_rng_uniform(unsigned long long *s) /* [0,1) */
{
    return (float)((ecn_rng_next(s) >> 40) * (1.0 / 16777216.0));
}

#endif
