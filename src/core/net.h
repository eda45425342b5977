/* net.h - the network: an ordered list of layers and what runs them.
 *
 * Internal to the library; users see the opaque ecn_net of ecnet.h.
 */
#ifndef ECN_NET_H
#define ECN_NET_H

#include "layer.h"

#define ECN_MAX_STEPS 32
#define ECN_MAX_CUT 16
#define ECN_MAX_EXITS 16

typedef enum { ECN_POLICY_CONSTANT, ECN_POLICY_STEP, ECN_POLICY_STEPS, ECN_POLICY_POLY,
               ECN_POLICY_EXP, ECN_POLICY_SIG, ECN_POLICY_RANDOM } ecn_lr_policy;

/* The [net] section's training and augmentation options, as Darknet reads them. */
typedef struct ecn_train_params {
    int batch, subdivisions, max_batches, burn_in, time_steps;
    float learning_rate, momentum, decay, power, gamma, scale;
    int step;
    ecn_lr_policy policy;
    int n_steps;
    int steps[ECN_MAX_STEPS];
    float scales[ECN_MAX_STEPS];
    int adam;
    float b1, b2, eps;
    float angle, aspect, saturation, exposure, hue, jitter;
    int min_crop, max_crop, center, flip;
} ecn_train_params;

struct ecn_net {
    ecn_layer *layers;
    int n;
    int batch;
    ecn_shape input;          /* per image */
    ecn_train_params train;
    ecn_pool *pool;
    float **scratch;          /* one per pool thread, consecutive in one block */
    size_t scratch_floats;
    float *arena;             /* activation memory shared by liveness */
    size_t arena_floats;
    char **warnings;
    int n_warnings;
    int folded;               /* batch norm folded: weights are for inference only */
    int n_exits;              /* early exits, in layer order */
    int exit_layer[ECN_MAX_EXITS]; /* each exit's [exit] layer */
    int exit_head[ECN_MAX_EXITS];  /* and the [softmax] that ends its branch */
    int split;                /* index of the [split] layer, -1 when none */
    int cut[ECN_MAX_CUT];     /* the layers whose outputs cross the split */
    int n_cut;
    int training;             /* ecn_net_train_begin was called */
    float *train_arena;       /* training: every output and delta, no reuse */
    unsigned long long rng;   /* training randomness */
    unsigned char header[12]; /* major, minor, revision of the loaded weights */
    unsigned long long seen;  /* images seen in training (from the weights file) */
    unsigned params_version;  /* bumped whenever the parameters change (load, fold, ...) */
    struct ecn_net_gpu *gpu;  /* GPU inference state (net_gpu.c); NULL on the CPU */
};

/* The split's round trip on the host, in place on the cut set (net.c). */
void ecn_net_cross_split(ecn_net *net, const ecn_ctx *ctx);

/* GPU inference (net_gpu.c): ecn_net_forward_range when net->gpu is set, and
 * the release of the device memory when the network is freed. */
const float *ecn_net_gpu_forward_range(ecn_net *net, const float *input, int from, int to, ecn_layer_hook hook,
                                       void *user);
void ecn_net_gpu_release(ecn_net *net);

#endif
