/* resample.cu - [upsample] and [reorg]; pure copies, equal to the CPU's bit
 * for bit.
 *
 * upsample, stride s, per output (plane p, row y, column x):
 *
 *   out[p][y][x] = scale * in[p][y / s][x / s]
 *
 * reorg, stride s, per image with input shape w x h x c and c2 = c / s^2,
 * for every input position (i, j, k), as src/layers/reorg.c (Darknet's
 * shuffle, not a plain space-to-depth):
 *
 *   offset = k / c2,  w2 = i*s + offset % s,  h2 = j*s + offset / s
 *   a = i + w*(j + h*k)                      (the w x h x c layout)
 *   z = w2 + w*s*(h2 + h*s*(k % c2))         (the (w*s) x (h*s) x c2 layout)
 *   forward: out[a] = in[z]        reverse: out[z] = in[a]
 *
 * One thread per output (upsample) or per input position (reorg).
 */
#include "common.cuh"

__global__ void upsample_kernel(const float *__restrict__ in, int h, int w, int stride, float scale, size_t total,
                                float *__restrict__ out)
{
    int ow = w * stride, oh = h * stride;
    ECN_FOR_EACH(i, total)
    {
        int x = (int)(i % ow), y = (int)(i / ow % oh);
        size_t p = i / ((size_t)ow * oh);
        out[i] = scale * in[(p * h + y / stride) * w + x / stride];
    }
}

__global__ void reorg_kernel(const float *__restrict__ in, ecn_shape s, int stride, int reverse, size_t total,
                             float *__restrict__ out)
{
    size_t per_image = (size_t)s.c * s.h * s.w;
    int c2 = s.c / (stride * stride);
    ECN_FOR_EACH(t, total)
    {
        size_t b = t / per_image, a = t % per_image;
        int i = (int)(a % s.w), j = (int)(a / s.w % s.h), k = (int)(a / ((size_t)s.w * s.h));
        int offset = k / c2;
        size_t w2 = (size_t)i * stride + offset % stride;
        size_t h2 = (size_t)j * stride + offset / stride;
        size_t z = w2 + (size_t)s.w * stride * (h2 + (size_t)s.h * stride * (k % c2));
        if (reverse)
            out[b * per_image + z] = in[b * per_image + a];
        else
            out[b * per_image + a] = in[b * per_image + z];
    }
}

int ecn_gpu_upsample(const float *in, int planes, int h, int w, int stride, float scale, float *out,
                     ecn_err *err)
{
    size_t total = (size_t)planes * h * stride * w * stride;
    if (!total) return 0;
    upsample_kernel<<<ecn_blocks(total), ECN_THREADS>>>(in, h, w, stride, scale, total, out);
    return ecn_gpu_check("upsample kernel", err);
}

int ecn_gpu_reorg(const float *in, int batch, ecn_shape in_shape, int stride, int reverse, float *out,
                  ecn_err *err)
{
    size_t total = (size_t)batch * ecn_shape_size(in_shape);
    if (!total) return 0;
    reorg_kernel<<<ecn_blocks(total), ECN_THREADS>>>(in, in_shape, stride, reverse, total, out);
    return ecn_gpu_check("reorg kernel", err);
}
