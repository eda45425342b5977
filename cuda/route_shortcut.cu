/* route_shortcut.cu - [route] copies and [shortcut] additions.
 *
 * route: each source's slice of every image is one 2-D copy,
 *
 *   dst[b * dst_stride + i] = src[b * src_stride + i]      i < row_floats
 *
 * (cudaMemcpy2DAsync: rows = images, the pitches in bytes).
 *
 * shortcut, as src/layers/shortcut.c: with from = (w1, h1, c1) the added
 * layer's shape and prev = (w2, h2, c2) this layer's, stride = max(w1/w2, 1),
 * sample = max(w2/w1, 1), the common region is k < min(c1, c2),
 * j < min(h1, h2), i < min(w1, w2), and there
 *
 *   y[k][j*sample][i*sample] = act(alpha * prev[..] + beta * add[k][j*stride][i*stride])
 *
 * while y = act(prev) elsewhere.  With equal shapes the region is
 * everything: y = act(alpha * prev + beta * add).  One thread per output,
 * which finds its (i, j) by dividing by `sample` (positions that are not a
 * multiple of it lie outside the region).  The products and the sum use
 * round-to-nearest intrinsics (no FMA), as the CPU computes them.
 */
#include "common.cuh"

typedef struct shortcut_geometry {
    ecn_shape out, add;
    int stride, sample, minw, minh, minc;
    float alpha, beta;
    int act;
} shortcut_geometry;

__global__ void shortcut_kernel(const float *__restrict__ prev, const float *__restrict__ add, shortcut_geometry g,
                                size_t total, float *__restrict__ y)
{
    size_t outputs = (size_t)g.out.c * g.out.h * g.out.w, adds = (size_t)g.add.c * g.add.h * g.add.w;
    ECN_FOR_EACH(t, total)
    {
        size_t b = t / outputs, o = t % outputs;
        int x = (int)(o % g.out.w), row = (int)(o / g.out.w % g.out.h), k = (int)(o / ((size_t)g.out.w * g.out.h));
        int i = x / g.sample, j = row / g.sample;
        float v = prev[t];
        if (k < g.minc && x % g.sample == 0 && row % g.sample == 0 && i < g.minw && j < g.minh) {
            size_t a = (size_t)i * g.stride + (size_t)g.add.w * ((size_t)j * g.stride + (size_t)g.add.h * k);
            v = __fadd_rn(__fmul_rn(g.alpha, v), __fmul_rn(g.beta, add[b * adds + a]));
        }
        y[t] = ecn_dev_activate(v, g.act);
    }
}

int ecn_gpu_copy_rows(const float *src, size_t src_stride, float *dst, size_t dst_stride, size_t row_floats,
                      int rows, ecn_err *err)
{
    if (!row_floats || rows <= 0) return 0;
    size_t f = sizeof(float);
    cudaError_t e = cudaMemcpy2DAsync(dst, dst_stride * f, src, src_stride * f, row_floats * f, (size_t)rows,
                                      cudaMemcpyDeviceToDevice, 0);
    if (e != cudaSuccess) return ecn_gpu_check("route copy (cudaMemcpy2DAsync)", err);
    return 0;
}

int ecn_gpu_shortcut(const float *prev, const float *add, int batch, ecn_shape out, ecn_shape add_shape,
                     float alpha, float beta, int act, float *y, ecn_err *err)
{
    shortcut_geometry g;
    g.out = out, g.add = add_shape;
    g.stride = add_shape.w / out.w > 1 ? add_shape.w / out.w : 1;
    g.sample = out.w / add_shape.w > 1 ? out.w / add_shape.w : 1;
    g.minw = out.w < add_shape.w ? out.w : add_shape.w;
    g.minh = out.h < add_shape.h ? out.h : add_shape.h;
    g.minc = out.c < add_shape.c ? out.c : add_shape.c;
    g.alpha = alpha, g.beta = beta, g.act = act;
    size_t total = (size_t)batch * ecn_shape_size(out);
    if (!total) return 0;
    shortcut_kernel<<<ecn_blocks(total), ECN_THREADS>>>(prev, add, g, total, y);
    return ecn_gpu_check("shortcut kernel", err);
}
