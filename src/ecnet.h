/* ecnet.h - the public interface of libecnet.
 *
 * A network is built from a Darknet .cfg file, given weights from a Darknet
 * .weights file, and run on float32 images in CHW order (channels, then rows,
 * then columns), batch first.  Every function that can fail returns 0 on
 * success and -1 on failure, and fills an ecn_err with a message that names
 * the file, the line and what was expected.  The library never prints and
 * never exits; two networks can live side by side in one process.
 */
#ifndef ECNET_H
#define ECNET_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors --------------------------------------------------------- */

typedef struct ecn_err {
    char msg[1024];
} ecn_err;

/* ---- shapes --------------------------------------------------------- */

typedef struct ecn_shape {
    int c, h, w; /* one image: channels, rows, columns */
} ecn_shape;

static inline size_t ecn_shape_size(ecn_shape s)
{
    return (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

/* ---- networks ------------------------------------------------------- */

typedef struct ecn_net ecn_net;

typedef struct ecn_load_opts {
    int batch;   /* images per forward pass; 0 means 1 */
    int width;   /* input width override; 0 keeps the cfg's */
    int height;  /* input height override; 0 keeps the cfg's */
    int threads; /* worker threads; 0 means one per core */
} ecn_load_opts;

/* Parse a cfg file and build the network (no weights yet: parameters are
 * zero until ecn_net_load_weights or ecn_net_randomize). */
int ecn_net_from_cfg(const char *cfg_path, const ecn_load_opts *opts, ecn_net **out, ecn_err *err);
/* The same from a cfg held in memory; `name` is used in messages. */
int ecn_net_from_cfg_text(const char *text, size_t len, const char *name, const ecn_load_opts *opts,
                          ecn_net **out, ecn_err *err);
void ecn_net_free(ecn_net *net);

/* Darknet .weights I/O.  Loading checks the file's size against the cfg and
 * names the layer where a short or long file breaks. */
int ecn_net_load_weights(ecn_net *net, const char *path, ecn_err *err);
/* Writes to PATH.tmp, then renames, so a crash never leaves a broken file. */
int ecn_net_save_weights(const ecn_net *net, const char *path, ecn_err *err);
/* Deterministic random parameters (He-scaled weights, unit batch norm). */
void ecn_net_randomize(ecn_net *net, unsigned long long seed);
/* Fold batch norm into the convolution weights for inference.  After this
 * the network can no longer save weights (the folded values are not what a
 * .weights file holds). */
void ecn_net_fold_batchnorm(ecn_net *net);

/* Warnings found while parsing (options a section does not use, ...). */
int ecn_net_warning_count(const ecn_net *net);
const char *ecn_net_warning(const ecn_net *net, int i);

/* ---- running -------------------------------------------------------- */

/* Called after each layer's forward pass with that layer's output (valid
 * only during the call: buffers are reused by liveness). */
typedef void (*ecn_layer_hook)(void *user, int layer, const float *output, size_t floats);

/* input: batch * ecn_net_input_shape floats.  Returns the last layer's output. */
const float *ecn_net_forward(ecn_net *net, const float *input, ecn_layer_hook hook, void *user);
/* Only layers [from, to); returns layer to-1's output.  input is read only
 * by layers that take the network input. */
const float *ecn_net_forward_range(ecn_net *net, const float *input, int from, int to, ecn_layer_hook hook,
                                   void *user);

/* ---- the GPU (builds made with `make GPU=1`) --------------------------- */

/* How convolutions and matrix products run on the GPU. */
typedef enum ecn_gpu_backend {
    ECN_GPU_KERNELS = 0, /* ecnet's own kernels (cuda/) */
    ECN_GPU_CUBLAS = 1,  /* matrix products by cuBLAS (a CUBLAS=1 build) */
    ECN_GPU_CUDNN = 2    /* convolutions by cuDNN, other products by cuBLAS if present
                          * (a CUDNN=1 build) */
} ecn_gpu_backend;

/* 1 when the library was built with the CUDA backend, 0 otherwise. */
int ecn_gpu_built(void);
/* Number of usable CUDA devices; 0 with err saying why when there is none
 * (no GPU support in this build, no driver, no device). */
int ecn_gpu_count(ecn_err *err);
/* Run the network's inference on CUDA device `device` from now on: the
 * parameters are copied to it once (and again after they change: loading
 * weights, folding, randomizing), activations stay on the device between
 * layers, and ecn_net_forward and ecn_net_forward_range copy to the host only
 * what the host reads: the last layer's output, the outputs that are kept
 * (detector heads, exit heads), the tensors that cross the [split], and,
 * when a hook is given, each layer's output before the hook sees it (slow:
 * for checks and timing).  Fails, naming the layer, when a layer has no GPU
 * implementation, and for a network being trained.  The backend is the
 * fastest the build has (cuDNN, cuBLAS, then ecnet's kernels). */
int ecn_net_to_gpu(ecn_net *net, int device, ecn_err *err);
/* Back to the CPU, releasing the device memory. */
void ecn_net_to_cpu(ecn_net *net);
/* The device the network runs on, or -1 on the CPU. */
int ecn_net_gpu_device(const ecn_net *net);
/* Choose the backend (fails when the build does not have it). */
int ecn_net_gpu_set_backend(ecn_net *net, ecn_gpu_backend backend, ecn_err *err);
/* On the GPU, ecn_net_forward returns NULL when the device failed; this
 * says why (NULL when the last forward pass succeeded). */
const char *ecn_net_gpu_error(const ecn_net *net);

/* ---- early exits and the split ----------------------------------------- */

/* Early exits ([exit] branches), in layer order. */
int ecn_net_exit_count(const ecn_net *net);
/* Exit k's class probabilities after the last forward pass: batch * classes. */
const float *ecn_net_exit_output(const ecn_net *net, int k, int *classes);
/* The entropy below which exit k answers (from the cfg unless set). */
float ecn_net_exit_threshold(const ecn_net *net, int k);
void ecn_net_set_exit_threshold(ecn_net *net, int k, float threshold);

/* The [split]: in a local run, each forward pass sends the tensors that cross
 * it through quantization, coding, framing and back (see docs/wire.md). */
int ecn_net_has_split(const ecn_net *net);
/* Override the cfg's bits (0 keeps them) and codec (NULL keeps it). */
int ecn_net_split_configure(ecn_net *net, int bits, const char *codec, ecn_err *err);
/* Edge and cloud as separate processes: the edge runs layers [0, split] with
 * ecn_net_forward_range and encodes each image's cut set into a frame; the
 * cloud decodes frames into the same places of its own copy of the network
 * and runs (split, end).  The result equals the local run's, byte for byte. */
int ecn_net_split_layer(const ecn_net *net); /* -1 without a [split] */
int ecn_net_split_encode(ecn_net *net, int image, unsigned long long frame_id, unsigned char **buf, size_t *cap,
                         size_t *len, ecn_err *err);
int ecn_net_split_decode(ecn_net *net, int image, const unsigned char *buf, size_t len,
                         unsigned long long *frame_id, ecn_err *err);
/* Bytes of image `image`'s frame in the last forward pass (header included). */
size_t ecn_net_split_bytes(const ecn_net *net, int image);
/* Why the last round trip failed, or NULL. */
const char *ecn_net_split_error(const ecn_net *net);

/* ---- training -------------------------------------------------------- */

/* Allocate what training needs (every layer keeps its output, gets a delta
 * buffer, gradients and batch-norm caches).  Inference never pays for it. */
int ecn_net_train_begin(ecn_net *net, ecn_err *err);
/* Forward in training mode (batch statistics, dropout, losses against
 * `truth`: truth_floats per image, e.g. one-hot labels), then backward,
 * accumulating parameter gradients.  Returns the summed loss of the batch. */
float ecn_net_train_step(ecn_net *net, const float *input, const float *truth, int truth_floats);
/* The forward half alone (losses computed and deltas seeded, no backward). */
float ecn_net_train_forward(ecn_net *net, const float *input, const float *truth, int truth_floats);
/* The backward half alone, after ecn_net_train_forward. */
void ecn_net_backward(ecn_net *net, const float *input);
/* Seed for training randomness (dropout, ...). */
void ecn_net_set_seed(ecn_net *net, unsigned long long seed);

ecn_shape ecn_net_input_shape(const ecn_net *net);
int ecn_net_batch(const ecn_net *net);
int ecn_net_layer_count(const ecn_net *net);
int ecn_net_threads(const ecn_net *net);

/* Layer introspection, for tables and tools. */
typedef struct ecn_layer_info {
    const char *type;   /* cfg section name without brackets: "convolutional" */
    int line;           /* line of the section header in the cfg */
    ecn_shape in, out;  /* per image */
    double flops;       /* floating-point operations (multiply and add counted apart) */
    char detail[64];    /* "32 3 x 3 / 1" and the like */
    size_t params;      /* number of learnable floats */
} ecn_layer_info;
void ecn_net_layer_info(const ecn_net *net, int i, ecn_layer_info *info);
/* Output of layer i after the last forward pass, or NULL when its buffer was
 * reused (only detector heads and the last layer are kept). */
const float *ecn_net_layer_output(const ecn_net *net, int i);
/* Bytes held by the network: parameters, activation arena, scratch. */
size_t ecn_net_memory_bytes(const ecn_net *net);

/* ---- images --------------------------------------------------------- */

typedef struct ecn_image {
    int w, h, c;
    float *data; /* CHW, values in [0,1] */
} ecn_image;

int ecn_image_load(const char *path, int channels, ecn_image *out, ecn_err *err);
void ecn_image_free(ecn_image *im);
int ecn_image_resize(const ecn_image *im, int w, int h, ecn_image *out, ecn_err *err);
int ecn_image_letterbox(const ecn_image *im, int w, int h, ecn_image *out, ecn_err *err);
int ecn_image_save_png(const ecn_image *im, const char *path, ecn_err *err);

/* ---- detection ------------------------------------------------------ */

typedef struct ecn_box {
    float x, y, w, h; /* centre and size, relative to the image (0..1) */
} ecn_box;

typedef struct ecn_detection {
    ecn_box box;
    float objectness;
    int classes;
    float *prob; /* classes entries; 0 where below the threshold */
} ecn_detection;

typedef struct ecn_detect_opts {
    float thresh;      /* class probability threshold (Darknet: 0.5) */
    float nms;         /* IoU above which the weaker box is dropped (0.45); 0 disables */
    int image_w, image_h; /* size of the original image (to undo the letterbox) */
    int letterboxed;   /* the input was letterboxed (1) or plainly resized (0) */
} ecn_detect_opts;

/* Decode every [yolo]/[region] layer's output after a forward pass, undo the
 * letterbox, and apply Darknet's per-class NMS.  *dets is allocated. */
int ecn_net_detections(const ecn_net *net, const ecn_detect_opts *opts, ecn_detection **dets,
                       int *count, ecn_err *err);
void ecn_detections_free(ecn_detection *dets, int count);

#ifdef __cplusplus
}
#endif
#endif
