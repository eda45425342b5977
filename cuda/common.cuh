/* common.cuh - what the kernel files share: launch sizes, the grid-stride
 * loop, and Darknet's activations on the device.
 *
 * Kernels use only what CUDA 10.2 offers (shared memory, __syncthreads,
 * __shfl_*_sync, the IEEE-rounding intrinsics), so the same sources build
 * for older Jetsons with their own toolkit.
 */
#ifndef ECN_CUDA_COMMON_CUH
#define ECN_CUDA_COMMON_CUH

#include <cuda_runtime.h>

#include "cpu/activations.h"
#include "gpu.h"

enum { ECN_THREADS = 256 };

/* Blocks for n threads' worth of work; a grid-stride loop covers the rest. */
static inline unsigned ecn_blocks(size_t n)
{
    size_t b = (n + ECN_THREADS - 1) / ECN_THREADS;
    return b == 0 ? 1u : b > 65535 ? 65535u : (unsigned)b;
}

#define ECN_FOR_EACH(i, n)                                                                              \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)(n);                     \
         i += (size_t)gridDim.x * blockDim.x)

/* Darknet's stair, as src/cpu/activations.c. */
static __device__ __forceinline__ float ecn_dev_stair(float x)
{
    int n = (int)floorf(x);
    if (n % 2 == 0) return floorf(x / 2.f);
    return (x - n) + floorf(x / 2.f);
}

/* ecn_activate (src/cpu/activations.c) for one value, formula for formula
 * (relu as its fast path: x > 0 ? x : 0). */
static __device__ __forceinline__ float ecn_dev_activate(float x, int a)
{
    switch (a) {
    case ECN_LINEAR: return x;
    case ECN_LOGISTIC: return 1.f / (1.f + expf(-x));
    case ECN_LOGGY: return 2.f / (1.f + expf(-x)) - 1.f;
    case ECN_RELU: return x > 0 ? x : 0.f;
    case ECN_ELU: return (x >= 0) * x + (x < 0) * (expf(x) - 1.f);
    case ECN_SELU: return (x >= 0) * 1.0507f * x + (x < 0) * 1.0507f * 1.6732f * (expf(x) - 1.f);
    case ECN_RELIE: return x > 0 ? x : .01f * x;
    case ECN_RAMP: return x * (x > 0) + .1f * x;
    case ECN_LEAKY: return x > 0 ? x : .1f * x;
    case ECN_TANH: return (expf(2 * x) - 1) / (expf(2 * x) + 1);
    case ECN_PLSE:
        if (x < -4) return .01f * (x + 4);
        if (x > 4) return .01f * (x - 4) + 1;
        return .125f * x + .5f;
    case ECN_STAIR: return ecn_dev_stair(x);
    case ECN_HARDTAN: return x < -1 ? -1.f : (x > 1 ? 1.f : x);
    case ECN_LHTAN:
        if (x < 0) return .001f * x;
        if (x > 1) return .001f * (x - 1) + 1;
        return x;
    }
    return x;
}

#endif
