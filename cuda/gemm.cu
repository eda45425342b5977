/* gemm.cu - C = alpha * op(A) * op(B) + beta * C on the GPU, row-major, as
 * ecn_gemm (src/cpu/gemm.h): op(A) is M x K, op(B) is K x N, ta / tb select
 * the transposes (A[m][k] is A[m*lda + k], or A[k*lda + m] when ta).
 *
 * The hand-written kernel tiles C into 64 x 64 blocks.  A block walks K in
 * steps of 16: it stages the 64 x 16 panel of op(A) and the 16 x 64 panel of
 * op(B) in shared memory (zero outside the matrices), then each of its
 * 16 x 16 threads accumulates a 4 x 4 block of C in registers,
 *
 *   acc[i][j] += sum_{kk < 16} As[kk][ty + 16i] * Bs[kk][tx + 16j]
 *
 * for rows ty + 16i and columns tx + 16j, so that a warp's shared-memory
 * reads are broadcasts or consecutive and its writes of C coalesce.  Finally
 *
 *   C[r][c] = alpha * acc + beta * C[r][c]      (C is not read when beta = 0)
 *
 * With CUBLAS=1, ecn_gpu_gemm_cublas does the same through cublasSgemm: a
 * row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T, so
 * the operands are passed swapped.  cuBLAS keeps full float32 (no TF32) in
 * its default math mode.
 */
#include <stdio.h>

#include "common.cuh"

#ifdef ECN_CUBLAS
#include <cublas_v2.h>
#include <pthread.h>
#endif

enum { TILE = 64, STEP = 16, PER_THREAD = 4, SIDE = TILE / PER_THREAD };

/* Stage op(A)[row0 .. row0+64)[k0 .. k0+16) as As[k][m]. */
template <int TA>
static __device__ __forceinline__ void load_a(float (*As)[TILE + 1], const float *A, int lda, int M, int K,
                                              int row0, int k0)
{
    for (int e = threadIdx.x; e < TILE * STEP; e += ECN_THREADS) {
        int m = TA ? e % TILE : e / STEP, k = TA ? e / TILE : e % STEP;
        int r = row0 + m, c = k0 + k;
        float v = 0;
        if (r < M && c < K) v = TA ? A[(size_t)c * lda + r] : A[(size_t)r * lda + c];
        As[k][m] = v;
    }
}

/* Stage op(B)[k0 .. k0+16)[col0 .. col0+64) as Bs[k][n]. */
template <int TB>
static __device__ __forceinline__ void load_b(float (*Bs)[TILE + 1], const float *B, int ldb, int N, int K,
                                              int col0, int k0)
{
    for (int e = threadIdx.x; e < TILE * STEP; e += ECN_THREADS) {
        int n = TB ? e / STEP : e % TILE, k = TB ? e % STEP : e / TILE;
        int r = k0 + k, c = col0 + n;
        float v = 0;
        if (r < K && c < N) v = TB ? B[(size_t)c * ldb + r] : B[(size_t)r * ldb + c];
        Bs[k][n] = v;
    }
}

template <int TA, int TB>
__global__ void __launch_bounds__(ECN_THREADS)
    gemm_tiled(int M, int N, int K, float alpha, const float *__restrict__ A, int lda, const float *__restrict__ B,
               int ldb, float beta, float *C, int ldc)
{
    __shared__ float As[STEP][TILE + 1];
    __shared__ float Bs[STEP][TILE + 1];
    const int tx = threadIdx.x % SIDE, ty = threadIdx.x / SIDE;
    const int row0 = blockIdx.y * TILE, col0 = blockIdx.x * TILE;
    float acc[PER_THREAD][PER_THREAD] = {{0}};
    for (int k0 = 0; k0 < K; k0 += STEP) {
        load_a<TA>(As, A, lda, M, K, row0, k0);
        load_b<TB>(Bs, B, ldb, N, K, col0, k0);
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < STEP; kk++) {
            float a[PER_THREAD], b[PER_THREAD];
#pragma unroll
            for (int i = 0; i < PER_THREAD; i++) a[i] = As[kk][ty + SIDE * i], b[i] = Bs[kk][tx + SIDE * i];
#pragma unroll
            for (int i = 0; i < PER_THREAD; i++)
#pragma unroll
                for (int j = 0; j < PER_THREAD; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < PER_THREAD; i++) {
        int r = row0 + ty + SIDE * i;
        if (r >= M) continue;
#pragma unroll
        for (int j = 0; j < PER_THREAD; j++) {
            int c = col0 + tx + SIDE * j;
            if (c >= N) continue;
            float *dst = C + (size_t)r * ldc + c;
            *dst = beta == 0 ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *dst;
        }
    }
}

int ecn_gpu_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc, ecn_err *err)
{
    if (M <= 0 || N <= 0) return 0;
    dim3 grid((unsigned)((N + TILE - 1) / TILE), (unsigned)((M + TILE - 1) / TILE));
    if (!ta && !tb) gemm_tiled<0, 0><<<grid, ECN_THREADS>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else if (!ta) gemm_tiled<0, 1><<<grid, ECN_THREADS>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else if (!tb) gemm_tiled<1, 0><<<grid, ECN_THREADS>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else gemm_tiled<1, 1><<<grid, ECN_THREADS>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return ecn_gpu_check("gemm kernel", err);
}

int ecn_gpu_gemm_with(ecn_gpu_backend backend, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc, ecn_err *err)
{
    if (backend != ECN_GPU_KERNELS && ecn_gpu_has_cublas())
        return ecn_gpu_gemm_cublas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, err);
    return ecn_gpu_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, err);
}

#ifdef ECN_CUBLAS

enum { MAX_DEVICES = 64 };

/* One cuBLAS handle per device, made on first use and kept for the life of
 * the process: creating one costs milliseconds, so it is cached, and the
 * mutex makes the first use safe from any thread. */
static cublasHandle_t handles[MAX_DEVICES];
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *cublas_message(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "cuBLAS not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "cuBLAS could not allocate";
    case CUBLAS_STATUS_INVALID_VALUE: return "cuBLAS: invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "cuBLAS: unsupported architecture";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "cuBLAS: execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "cuBLAS: internal error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "cuBLAS: not supported";
    default: return "cuBLAS error";
    }
}

static int cublas_fail(ecn_err *err, const char *what, cublasStatus_t s)
{
    if (err) snprintf(err->msg, sizeof err->msg, "%s: %s (status %d)", what, cublas_message(s), (int)s);
    return -1;
}

static int cublas_handle(cublasHandle_t *h, ecn_err *err)
{
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) {
        if (err) snprintf(err->msg, sizeof err->msg, "cudaGetDevice: %s", cudaGetErrorString(e));
        return -1;
    }
    if (dev < 0 || dev >= MAX_DEVICES) {
        if (err) snprintf(err->msg, sizeof err->msg, "cuBLAS: device %d is beyond the %d supported", dev, MAX_DEVICES);
        return -1;
    }
    pthread_mutex_lock(&handles_lock);
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    if (!handles[dev]) s = cublasCreate(&handles[dev]);
    *h = handles[dev];
    pthread_mutex_unlock(&handles_lock);
    return s == CUBLAS_STATUS_SUCCESS ? 0 : cublas_fail(err, "cublasCreate", s);
}

int ecn_gpu_gemm_cublas(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc, ecn_err *err)
{
    if (M <= 0 || N <= 0) return 0;
    cublasHandle_t h = NULL;
    if (cublas_handle(&h, err)) return -1;
    cublasStatus_t s = cublasSgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                                   &alpha, B, ldb, A, lda, &beta, C, ldc);
    return s == CUBLAS_STATUS_SUCCESS ? 0 : cublas_fail(err, "cublasSgemm", s);
}

int ecn_gpu_has_cublas(void) { return 1; }

#else

int ecn_gpu_gemm_cublas(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc, ecn_err *err)
{
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb;
    (void)beta, (void)C, (void)ldc;
    if (err) snprintf(err->msg, sizeof err->msg, "this build has no cuBLAS (make GPU=1 CUBLAS=1)");
    return -1;
}

int ecn_gpu_has_cublas(void) { return 0; }

#endif
