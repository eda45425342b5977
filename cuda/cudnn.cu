/* cudnn.cu - convolution by cuDNN (CUDNN=1), the optional fast path of the
 * [convolutional] layer:
 *
 *   out[b][f][y][x] = sum_{c,ky,kx} W[f][c][ky][kx] * in[b][g*cg + c][y*s - p + ky][x*s - p + kx]
 *
 * (cross-correlation, as Darknet; g the group of filter f, cg = c / groups).
 * Bias, batch norm and activation follow in activations.cu, as for the
 * hand-written path.  The descriptors are made per call (cheap, host-side);
 * the algorithm is cuDNN's first choice among those whose workspace fits
 * the caller's buffer.  Math is kept to float32 FMA (no TF32 tensor cores),
 * so results stay within float rounding of the CPU's.  The calls used exist
 * from cuDNN 7 on; cuDNN 9 still provides them.
 */
#include <stdio.h>

#include "common.cuh"

#ifdef ECN_CUDNN
#include <cudnn.h>
#include <pthread.h>

enum { MAX_DEVICES = 64 };

/* One cuDNN handle per device, made on first use and kept for the life of
 * the process (creating one costs far more than a convolution); the mutex
 * makes the first use safe from any thread. */
static cudnnHandle_t handles[MAX_DEVICES];
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;

static int cudnn_fail(ecn_err *err, const char *what, cudnnStatus_t s)
{
    if (err) snprintf(err->msg, sizeof err->msg, "%s: %s", what, cudnnGetErrorString(s));
    return -1;
}

#define CUDNN_TRY(call)                                                                                 \
    do {                                                                                                \
        cudnnStatus_t s_ = (call);                                                                      \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                                               \
            rc = cudnn_fail(err, #call, s_);                                                            \
            goto done;                                                                                  \
        }                                                                                               \
    } while (0)

static int cudnn_handle(cudnnHandle_t *h, ecn_err *err)
{
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) {
        if (err) snprintf(err->msg, sizeof err->msg, "cudaGetDevice: %s", cudaGetErrorString(e));
        return -1;
    }
    if (dev < 0 || dev >= MAX_DEVICES) {
        if (err) snprintf(err->msg, sizeof err->msg, "cuDNN: device %d is beyond the %d supported", dev, MAX_DEVICES);
        return -1;
    }
    pthread_mutex_lock(&handles_lock);
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    if (!handles[dev]) s = cudnnCreate(&handles[dev]);
    *h = handles[dev];
    pthread_mutex_unlock(&handles_lock);
    return s == CUDNN_STATUS_SUCCESS ? 0 : cudnn_fail(err, "cudnnCreate", s);
}

/* Plain float32 arithmetic: from cuDNN 8 on, the default math type may use
 * TF32 tensor cores (10-bit mantissas), too coarse to agree with the CPU. */
static int float32_math(const cudnnConvolutionFwdAlgoPerf_t *p)
{
#if CUDNN_MAJOR >= 8
    return p->mathType == CUDNN_FMA_MATH;
#else
    return p->mathType == CUDNN_DEFAULT_MATH;
#endif
}

/* The fastest algorithm cuDNN suggests whose workspace fits. */
static int pick_algorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                          cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t y, size_t work_bytes,
                          cudnnConvolutionFwdAlgo_t *algo, ecn_err *err)
{
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0;
    cudnnStatus_t s =
        cudnnGetConvolutionForwardAlgorithm_v7(h, x, w, conv, y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf);
    if (s != CUDNN_STATUS_SUCCESS) return cudnn_fail(err, "cudnnGetConvolutionForwardAlgorithm_v7", s);
    /* Those rated for float32 math first; the descriptor asks for it anyway. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < found; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= work_bytes &&
                (pass || float32_math(&perf[i]))) {
                *algo = perf[i].algo;
                return 0;
            }
    if (err) snprintf(err->msg, sizeof err->msg, "cuDNN: no convolution algorithm fits %zu bytes of workspace", work_bytes);
    return -1;
}

int ecn_gpu_conv_cudnn(const ecn_gpu_conv *g, const float *in, const float *weights, float *out, void *work,
                       size_t work_bytes, ecn_err *err)
{
    cudnnHandle_t h = NULL;
    if (cudnn_handle(&h, err)) return -1;
    int rc = -1;
    cudnnTensorDescriptor_t x = NULL, y = NULL;
    cudnnFilterDescriptor_t w = NULL;
    cudnnConvolutionDescriptor_t conv = NULL;
    cudnnConvolutionFwdAlgo_t algo;
    const float one = 1, zero = 0;
    CUDNN_TRY(cudnnCreateTensorDescriptor(&x));
    CUDNN_TRY(cudnnCreateTensorDescriptor(&y));
    CUDNN_TRY(cudnnCreateFilterDescriptor(&w));
    CUDNN_TRY(cudnnCreateConvolutionDescriptor(&conv));
    CUDNN_TRY(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g->batch, g->c, g->h, g->w));
    CUDNN_TRY(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g->batch, g->filters, g->out_h,
                                         g->out_w));
    CUDNN_TRY(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g->filters, g->c / g->groups,
                                         g->size, g->size));
    CUDNN_TRY(cudnnSetConvolution2dDescriptor(conv, g->pad, g->pad, g->stride, g->stride, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_TRY(cudnnSetConvolutionGroupCount(conv, g->groups));
#if CUDNN_MAJOR >= 8
    CUDNN_TRY(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));
#endif
    if (pick_algorithm(h, x, w, conv, y, work_bytes, &algo, err)) goto done;
    CUDNN_TRY(cudnnConvolutionForward(h, &one, x, in, w, weights, conv, algo, work, work_bytes, &zero, y, out));
    rc = 0;
done:
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
    return rc;
}

int ecn_gpu_has_cudnn(void) { return 1; }

#else

int ecn_gpu_conv_cudnn(const ecn_gpu_conv *g, const float *in, const float *weights, float *out, void *work,
                       size_t work_bytes, ecn_err *err)
{
    (void)g, (void)in, (void)weights, (void)out, (void)work, (void)work_bytes;
    if (err) snprintf(err->msg, sizeof err->msg, "this build has no cuDNN (make GPU=1 CUDNN=1)");
    return -1;
}

int ecn_gpu_has_cudnn(void) { return 0; }

#endif
