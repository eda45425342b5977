/* softmax.cu - softmax over runs of values, and the entropy of a
 * distribution.
 *
 * softmax, per run of n values x_0 .. x_{n-1} (`stride` apart), temperature T,
 * as ecn_softmax (src/cpu/blas.c):
 *
 *   m = max_i x_i,   e_i = exp(x_i / T - m / T),   out_i = e_i / sum_j e_j
 *
 * entropy, per run of n consecutive probabilities, as ecn_entropy
 * (src/train/eval.c), in double:
 *
 *   H = -sum over p_i > 0 of p_i * log(p_i)
 *
 * One warp per run: the lanes take every 32nd value, and shuffle trees
 * combine their maxima and sums.  The sums are added in another order than
 * the CPU's running sum, so results may differ in the last bits.  The max
 * skips NaN as the CPU's '>' does.  A run is laid out by ecn_gpu_runs
 * (gpu.h): run r = o * inner + i starts at o * outer_stride + i.
 */
#include <math.h>

#include "common.cuh"

static __device__ __forceinline__ float warp_max(float v)
{
    for (int off = 16; off > 0; off /= 2) {
        float o = __shfl_xor_sync(0xffffffffu, v, off);
        if (o > v) v = o;
    }
    return v;
}

template <typename T> static __device__ __forceinline__ T warp_sum(T v)
{
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

static __device__ __forceinline__ void warp_of(int *warp, int *warps, int *lane)
{
    *lane = threadIdx.x % 32;
    *warp = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32);
    *warps = (int)((size_t)gridDim.x * blockDim.x / 32);
}

__global__ void softmax_kernel(const float *in, float *out, ecn_gpu_runs g, int runs, float temp)
{
    int warp, warps, lane;
    warp_of(&warp, &warps, &lane);
    for (int r = warp; r < runs; r += warps) {
        size_t base = (size_t)(r / g.inner) * g.outer_stride + (size_t)(r % g.inner);
        const float *x = in + base;
        float *y = out + base;
        float largest = -INFINITY;
        for (int i = lane; i < g.n; i += 32)
            if (x[(size_t)i * g.stride] > largest) largest = x[(size_t)i * g.stride];
        largest = warp_max(largest);
        float sum = 0;
        for (int i = lane; i < g.n; i += 32) {
            float e = expf(x[(size_t)i * g.stride] / temp - largest / temp);
            sum += e;
            y[(size_t)i * g.stride] = e; /* each lane rereads only what it wrote */
        }
        sum = warp_sum(sum);
        for (int i = lane; i < g.n; i += 32) y[(size_t)i * g.stride] /= sum;
    }
}

__global__ void entropy_kernel(const float *__restrict__ p, int n, int runs, float *__restrict__ h)
{
    int warp, warps, lane;
    warp_of(&warp, &warps, &lane);
    for (int r = warp; r < runs; r += warps) {
        const float *q = p + (size_t)r * n;
        double s = 0;
        for (int i = lane; i < n; i += 32)
            if (q[i] > 0) s -= q[i] * log((double)q[i]);
        s = warp_sum(s);
        if (lane == 0) h[r] = (float)s;
    }
}

int ecn_gpu_softmax(const float *in, float *out, ecn_gpu_runs runs, float temp, ecn_err *err)
{
    int count = runs.outer * runs.inner;
    if (count <= 0 || runs.n <= 0) return 0;
    softmax_kernel<<<ecn_blocks((size_t)count * 32), ECN_THREADS>>>(in, out, runs, count, temp);
    return ecn_gpu_check("softmax kernel", err);
}

int ecn_gpu_entropy(const float *p, int n, int runs, float *h, ecn_err *err)
{
    if (runs <= 0) return 0;
    entropy_kernel<<<ecn_blocks((size_t)runs * 32), ECN_THREADS>>>(p, n, runs, h);
    return ecn_gpu_check("entropy kernel", err);
}
