/* blas.h - small elementwise kernels shared by the layers. */
#ifndef ECN_BLAS_H
#define ECN_BLAS_H

#include <stddef.h>

void ecn_fill(float *x, size_t n, float v);
void ecn_copy(const float *x, size_t n, float *y);
void ecn_axpy(size_t n, float a, const float *x, float *y); /* y += a x */
void ecn_scale(float *x, size_t n, float a);
/* x[b][c][s] += bias[c] over batch b, channels c, spatial s */
void ecn_add_bias(float *x, const float *bias, int batch, int channels, int spatial);
/* x[b][c][s] *= scale[c] */
void ecn_scale_bias(float *x, const float *scale, int batch, int channels, int spatial);
/* Darknet inference batch norm: x = (x - mean[c]) / (sqrt(var[c]) + 1e-6) */
void ecn_normalize(float *x, const float *mean, const float *var, int batch, int channels,
                   int spatial);
/* Darknet's epsilon in inference batch norm (added to sqrt(var), not var). */
#define ECN_BN_EPS 0.000001f
/* out = softmax(in / temp) over n values spaced `stride` apart */
void ecn_softmax(const float *in, int n, float temp, int stride, float *out);

#endif
