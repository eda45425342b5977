/* im2col.cu - unfold image patches into the columns of a matrix.
 *
 * For a k x k convolution with stride s and padding p over a C x H x W
 * image, row r = (ch*k + ky)*k + kx of the column matrix holds, at column
 * n = oy*out_w + ox,
 *
 *   col[r][n] = im[ch][oy*s - p + ky][ox*s - p + kx]    (0 outside the image)
 *
 * which is ecn_im2col_rows (src/cpu/im2col.h) over every output row, with
 * ldcol = out_h*out_w.  One thread per entry of the matrix; a pure copy, so
 * the result equals the CPU's bit for bit.  (col2im, its adjoint, belongs to
 * the backward pass and is not here yet.)
 */
#include "common.cuh"

__global__ void im2col_kernel(const float *__restrict__ im, int H, int W, int ksize, int stride, int pad,
                              int out_w, size_t cols, size_t total, float *__restrict__ col)
{
    ECN_FOR_EACH(i, total)
    {
        size_t r = i / cols, n = i % cols;
        int kx = (int)(r % ksize), ky = (int)(r / ksize % ksize), ch = (int)(r / ((size_t)ksize * ksize));
        int oy = (int)(n / out_w), ox = (int)(n % out_w);
        int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
        col[i] = iy >= 0 && iy < H && ix >= 0 && ix < W ? im[((size_t)ch * H + iy) * W + ix] : 0.f;
    }
}

int ecn_gpu_im2col(const float *im, int C, int H, int W, int ksize, int stride, int pad, int out_h, int out_w,
                   float *col, ecn_err *err)
{
    size_t cols = (size_t)out_h * out_w, total = (size_t)C * ksize * ksize * cols;
    if (!total) return 0;
    im2col_kernel<<<ecn_blocks(total), ECN_THREADS>>>(im, H, W, ksize, stride, pad, out_w, cols, total, col);
    return ecn_gpu_check("im2col kernel", err);
}
