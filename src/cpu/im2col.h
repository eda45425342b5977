/* im2col.h - unfold image patches into the columns of a matrix.
 *
 * For a convolution with k x k kernels, row r = (ch*k + ky)*k + kx of the
 * column matrix holds, for every output position (oy, ox), the input pixel
 * im[ch][oy*stride - pad + ky][ox*stride - pad + kx] (0 outside the image).
 * Multiplying the filters (F x C*k*k) by it gives the convolution.
 */
#ifndef ECN_IM2COL_H
#define ECN_IM2COL_H

/* Columns for output rows [oy0, oy1) only, into col with row stride ldcol
 * (>= (oy1-oy0)*out_w).  Channels [ch0, ch1) of the C x H x W image. */
void ecn_im2col_rows(const float *im, int H, int W, int ksize, int stride, int pad, int out_w,
                     int ch0, int ch1, int oy0, int oy1, float *col, int ldcol);

/* The inverse scatter-add, for the backward pass: im += col2im(col). */
void ecn_col2im(const float *col, int C, int H, int W, int ksize, int stride, int pad, int out_h,
                int out_w, float *im);

#endif
