/* pool.cu - [maxpool] and [avgpool].
 *
 * maxpool, per output (plane p, row oy, column ox), with offset = -pad/2
 * (C division) as src/layers/maxpool.c:
 *
 *   out = max over dy, dx < size of in[p][oy*stride + offset + dy][ox*stride + offset + dx]
 *
 * over the window clipped to the plane (-FLT_MAX when nothing is left),
 * compared with '>' as the CPU does, so the result is the CPU's bit for bit.
 *
 * avgpool, per plane p of n values:  out[p] = (sum of the plane) / n.  One
 * warp per plane: each lane sums a strided share, then a shuffle tree adds
 * the 32 partial sums.  The order of the additions differs from the CPU's
 * running sum, so the result may differ in the last bits.
 */
#include <float.h>

#include "common.cuh"

__global__ void maxpool_kernel(const float *__restrict__ in, int h, int w, int size, int stride, int pad,
                               int out_h, int out_w, size_t total, float *__restrict__ out)
{
    ECN_FOR_EACH(i, total)
    {
        int ox = (int)(i % out_w), oy = (int)(i / out_w % out_h);
        const float *plane = in + i / ((size_t)out_w * out_h) * ((size_t)w * h);
        int offset = -pad / 2;
        int y0 = oy * stride + offset, x0 = ox * stride + offset;
        int y1 = min(y0 + size, h), x1 = min(x0 + size, w);
        float best = -FLT_MAX;
        for (int y = max(y0, 0); y < y1; y++)
            for (int x = max(x0, 0); x < x1; x++) {
                float v = plane[y * w + x];
                if (v > best) best = v;
            }
        out[i] = best;
    }
}

__global__ void avgpool_kernel(const float *__restrict__ in, int planes, int n, float *__restrict__ out)
{
    int lane = threadIdx.x % 32;
    int warp = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32);
    int warps = (int)((size_t)gridDim.x * blockDim.x / 32);
    for (int p = warp; p < planes; p += warps) {
        const float *x = in + (size_t)p * n;
        float sum = 0;
        for (int i = lane; i < n; i += 32) sum += x[i];
        for (int off = 16; off > 0; off /= 2) sum += __shfl_down_sync(0xffffffffu, sum, off);
        if (lane == 0) out[p] = sum / (float)n;
    }
}

int ecn_gpu_maxpool(const float *in, int planes, int h, int w, int size, int stride, int pad, int out_h,
                    int out_w, float *out, ecn_err *err)
{
    size_t total = (size_t)planes * out_h * out_w;
    if (!total) return 0;
    maxpool_kernel<<<ecn_blocks(total), ECN_THREADS>>>(in, h, w, size, stride, pad, out_h, out_w, total, out);
    return ecn_gpu_check("maxpool kernel", err);
}

int ecn_gpu_avgpool(const float *in, int planes, int plane_size, float *out, ecn_err *err)
{
    if (planes <= 0 || plane_size <= 0) return 0;
    avgpool_kernel<<<ecn_blocks((size_t)planes * 32), ECN_THREADS>>>(in, planes, plane_size, out);
    return ecn_gpu_check("avgpool kernel", err);
}
