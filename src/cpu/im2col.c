/* im2col.c - see im2col.h.  The inner loop works on a whole output row:
 * the range of output columns whose input pixel lies inside the image is
 * computed once, the rest is zero padding. */
#include "im2col.h"

#include <string.h>

/* Output columns ox in [*lo, *hi) read 0 <= ox*stride + off < W. */
static void valid_range(int off, int stride, int W, int out_w, int *lo, int *hi)
{
    int a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int b = (W - 1 - off) >= 0 ? (W - 1 - off) / stride + 1 : 0;
    if (b > out_w) b = out_w;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

static void unfold_row(const float *src_row, int off, int stride, int W, int out_w, float *dst)
{
    int lo, hi;
    valid_range(off, stride, W, out_w, &lo, &hi);
    for (int ox = 0; ox < lo; ox++) dst[ox] = 0;
    if (stride == 1) {
        memcpy(dst + lo, src_row + lo + off, (size_t)(hi - lo) * sizeof *dst);
    } else {
        for (int ox = lo; ox < hi; ox++) dst[ox] = src_row[ox * stride + off];
    }
    for (int ox = hi; ox < out_w; ox++) dst[ox] = 0;
}

void ecn_im2col_rows(const float *im, int H, int W, int ksize, int stride, int pad, int out_w,
                     int ch0, int ch1, int oy0, int oy1, float *col, int ldcol)
{
    for (int ch = ch0; ch < ch1; ch++)
        for (int ky = 0; ky < ksize; ky++)
            for (int kx = 0; kx < ksize; kx++) {
                float *dst = col + (size_t)((ch * ksize + ky) * ksize + kx) * ldcol;
                for (int oy = oy0; oy < oy1; oy++, dst += out_w) {
                    int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= H) {
                        memset(dst, 0, (size_t)out_w * sizeof *dst);
                        continue;
                    }
                    unfold_row(im + ((size_t)ch * H + iy) * W, kx - pad, stride, W, out_w, dst);
                }
            }
}

void ecn_col2im(const float *col, int C, int H, int W, int ksize, int stride, int pad, int out_h,
                int out_w, float *im)
{
    size_t ld = (size_t)out_h * out_w;
    for (int ch = 0; ch < C; ch++)
        for (int ky = 0; ky < ksize; ky++)
            for (int kx = 0; kx < ksize; kx++) {
                const float *src = col + (size_t)((ch * ksize + ky) * ksize + kx) * ld;
                for (int oy = 0; oy < out_h; oy++) {
                    int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= H) continue;
                    float *dst = im + ((size_t)ch * H + iy) * W;
                    int lo, hi;
                    valid_range(kx - pad, stride, W, out_w, &lo, &hi);
                    for (int ox = lo; ox < hi; ox++) dst[ox * stride + kx - pad] += src[oy * out_w + ox];
                }
            }
}
