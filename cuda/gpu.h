/* gpu.h - the CUDA backend as C sees it (`make GPU=1`).
 *
 * Plain C, no CUDA header needed: the C side of the engine (src/core/net_gpu.c,
 * the GPU parts of the layers, tests/test_gpu.c) includes it, and the .cu
 * files in cuda/ implement it, one file per group of kernels.
 *
 * Conventions.  Every tensor pointer passed to a launcher is device memory.
 * Launchers queue their work on the default stream and return at once: 0, or
 * -1 with err filled when the launch itself failed (a fault inside a kernel
 * shows at the next copy, ecn_gpu_download, or ecn_gpu_sync).  Layouts are
 * the CPU path's (CHW, batch first, row-major matrices), and each launcher
 * names the CPU function it must agree with.
 */
#ifndef ECN_CUDA_GPU_H
#define ECN_CUDA_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "ecnet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- devices, memory, errors (gpu.cu) --------------------------------- */

/* Number of CUDA devices; -1 with err when none can be used (no driver,
 * no device). */
int ecn_gpu_devices(ecn_err *err);
/* Make `device` current for the calling thread (checks that it exists). */
int ecn_gpu_use(int device, ecn_err *err);
/* "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)" into buf. */
int ecn_gpu_describe(int device, char *buf, size_t n, ecn_err *err);
void *ecn_gpu_alloc(size_t bytes, ecn_err *err);
void ecn_gpu_free(void *d);
/* Host to device and device to host: synchronous (they wait for the kernels
 * queued before them). */
int ecn_gpu_upload(void *d_dst, const void *src, size_t bytes, ecn_err *err);
int ecn_gpu_download(void *dst, const void *d_src, size_t bytes, ecn_err *err);
/* Device to device, queued. */
int ecn_gpu_copy(void *d_dst, const void *d_src, size_t bytes, ecn_err *err);
/* Wait for everything queued; report a fault of any kernel. */
int ecn_gpu_sync(ecn_err *err);
/* After a launch: 0, or -1 with "what: <CUDA's message>" in err. */
int ecn_gpu_check(const char *what, ecn_err *err);

/* ---- matrix product (gemm.cu) ------------------------------------------
 * C = alpha * op(A) * op(B) + beta * C, row-major, op(A) M x K, op(B) K x N,
 * exactly the interface of ecn_gemm (src/cpu/gemm.h).  C is not read when
 * beta is 0.  ecn_gpu_gemm is the hand-written tiled kernel;
 * ecn_gpu_gemm_cublas calls cuBLAS (fails unless built with CUBLAS=1). */
int ecn_gpu_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc, ecn_err *err);
int ecn_gpu_gemm_cublas(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc, ecn_err *err);
/* The layers' choice: cuBLAS when the backend is not ECN_GPU_KERNELS and the
 * build has it, the hand-written kernel otherwise. */
int ecn_gpu_gemm_with(ecn_gpu_backend backend, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc, ecn_err *err);
/* 1 when the build has the cuBLAS / cuDNN paths (CUBLAS=1 / CUDNN=1). */
int ecn_gpu_has_cublas(void);
int ecn_gpu_has_cudnn(void);

/* ---- convolution helpers (im2col.cu, cudnn.cu) ------------------------- */

/* The column matrix of ecn_im2col_rows over all output rows and the
 * channels [0, C): (C*ksize*ksize) x (out_h*out_w). */
int ecn_gpu_im2col(const float *im, int C, int H, int W, int ksize, int stride, int pad, int out_h, int out_w,
                   float *col, ecn_err *err);

/* Geometry of a convolution for cuDNN (per image: c x h x w in, filters x
 * out_h x out_w out, weights filters x (c/groups) x size x size). */
typedef struct ecn_gpu_conv {
    int batch, c, h, w;
    int filters, size, stride, pad, groups;
    int out_h, out_w;
} ecn_gpu_conv;
/* out = the convolution alone (no bias, no activation), by cuDNN, with
 * `work` (work_bytes of device memory) as its workspace.  Fails unless built
 * with CUDNN=1. */
int ecn_gpu_conv_cudnn(const ecn_gpu_conv *g, const float *in, const float *weights, float *out, void *work,
                       size_t work_bytes, ecn_err *err);

/* ---- bias, batch norm, activation (activations.cu) ----------------------
 * act is an ecn_activation (src/cpu/activations.h). */
int ecn_gpu_activate(float *x, size_t n, int act, ecn_err *err);
/* y[b][c][s] = act(bn(x[b][c][s]) + bias[c]) where, when scale is not NULL,
 * bn(x) = scale[c] * ((x - mean[c]) / (sqrt(var[c]) + ECN_BN_EPS)) (Darknet's
 * inference batch norm, unfolded) and bn(x) = x otherwise.  y may be x. */
int ecn_gpu_bias_activate(const float *x, float *y, const float *bias, const float *scale, const float *mean,
                          const float *var, int batch, int channels, int spatial, int act, ecn_err *err);

/* ---- pooling (pool.cu) --------------------------------------------------- */

/* Every plane of `planes` (h x w each) as [maxpool] does (src/layers/maxpool.c). */
int ecn_gpu_maxpool(const float *in, int planes, int h, int w, int size, int stride, int pad, int out_h,
                    int out_w, float *out, ecn_err *err);
/* out[p] = mean of plane p (plane_size values each), as [avgpool]. */
int ecn_gpu_avgpool(const float *in, int planes, int plane_size, float *out, ecn_err *err);

/* ---- resampling (resample.cu) -------------------------------------------- */

/* Every plane h x w to (h*stride) x (w*stride), times scale ([upsample]). */
int ecn_gpu_upsample(const float *in, int planes, int h, int w, int stride, float scale, float *out,
                     ecn_err *err);
/* [reorg] of every image (per image shape in: c x h x w), forward or reverse. */
int ecn_gpu_reorg(const float *in, int batch, ecn_shape in_shape, int stride, int reverse, float *out,
                  ecn_err *err);

/* ---- route and shortcut (route_shortcut.cu) ------------------------------- */

/* rows x row_floats block: dst[r * dst_stride + i] = src[r * src_stride + i]
 * ([route]: one source's slice of every image). */
int ecn_gpu_copy_rows(const float *src, size_t src_stride, float *dst, size_t dst_stride, size_t row_floats,
                      int rows, ecn_err *err);
/* [shortcut]: y = act(alpha * prev + beta * add) over the common region of
 * the two shapes (Darknet's rule, src/layers/shortcut.c), y = act(prev)
 * elsewhere.  prev and y have shape out, add has shape add_shape. */
int ecn_gpu_shortcut(const float *prev, const float *add, int batch, ecn_shape out, ecn_shape add_shape,
                     float alpha, float beta, int act, float *y, ecn_err *err);

/* ---- softmax and entropy (softmax.cu) ------------------------------------- */

/* Runs of n values, `stride` apart; run r = o * inner + i (o < outer,
 * i < inner) starts at o * outer_stride + i.  A plain softmax over
 * `groups` of n consecutive values is {n, 1, groups, n, 1}; [region]'s
 * per-cell softmax over class planes is {classes, w*h, anchors, per_anchor, w*h}. */
typedef struct ecn_gpu_runs {
    int n, stride, outer;
    size_t outer_stride;
    int inner;
} ecn_gpu_runs;
/* Each run: out = softmax(in / temp), as ecn_softmax (src/cpu/blas.c).  out may be in. */
int ecn_gpu_softmax(const float *in, float *out, ecn_gpu_runs runs, float temp, ecn_err *err);
/* h[r] = -sum p log p over the r-th run of n consecutive values, as
 * ecn_entropy (src/train/eval.c), for r < runs. */
int ecn_gpu_entropy(const float *p, int n, int runs, float *h, ecn_err *err);

/* ---- detector heads (yolo.cu) ---------------------------------------------- */

/* [yolo]'s activation, in place: logistic on x, y, objectness and classes of
 * each of `anchors` anchors per image, tw and th left raw. */
int ecn_gpu_yolo_activate(float *x, int batch, int anchors, int wh, int classes, ecn_err *err);
/* [region]'s activation, in place (logistic x, y, objectness unless
 * background; classes logistic, or one softmax per cell). */
int ecn_gpu_region_activate(float *x, int batch, int anchors, int wh, int coords, int classes, int background,
                            int softmax, ecn_err *err);

/* ---- the split's quantizer (quant.cu) --------------------------------------
 * The maths of src/split/quant.h, bit for bit: n values in `groups` equal
 * consecutive groups (1: per tensor; c: per channel), lo/hi device arrays of
 * `groups` floats. */
/* Min-max ranges of the finite values (0, 0 for a group with none). */
int ecn_gpu_quant_minmax(const float *x, size_t n, int groups, float *lo, float *hi, ecn_err *err);
/* Symbols as ecn_quant_encode: bits 1..8 one byte each, 16 two (half,
 * little-endian), 32 four (the float's bytes); lo/hi unused for 16 and 32. */
int ecn_gpu_quantize(const float *x, size_t n, int groups, const float *lo, const float *hi, int bits,
                     uint8_t *sym, ecn_err *err);
/* The inverse, as ecn_dequantize (symbols are trusted: no range check). */
int ecn_gpu_dequantize(const uint8_t *sym, size_t n, int groups, const float *lo, const float *hi, int bits,
                       float *x, ecn_err *err);
/* ecn_pack / ecn_unpack for bits 1..8: out holds ecn_pack_size(n, bits) bytes. */
int ecn_gpu_pack(const uint8_t *sym, size_t n, int bits, uint8_t *out, ecn_err *err);
int ecn_gpu_unpack(const uint8_t *in, size_t n, int bits, uint8_t *sym, ecn_err *err);

#ifdef __cplusplus
}
#endif
#endif
