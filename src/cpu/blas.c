/* blas.c - small elementwise kernels shared by the layers. */
#include "blas.h"

#include <math.h>
#include <string.h>

void ecn_fill(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++) x[i] = v;
}

void ecn_copy(const float *x, size_t n, float *y)
{
    if (x != y) memcpy(y, x, n * sizeof *x);
}

void ecn_axpy(size_t n, float a, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

void ecn_scale(float *x, size_t n, float a)
{
    for (size_t i = 0; i < n; i++) x[i] *= a;
}

void ecn_add_bias(float *x, const float *bias, int batch, int channels, int spatial)
{
    for (int b = 0; b < batch; b++)
        for (int c = 0; c < channels; c++) {
            float *p = x + ((size_t)b * channels + c) * spatial;
            for (int s = 0; s < spatial; s++) p[s] += bias[c];
        }
}

void ecn_scale_bias(float *x, const float *scale, int batch, int channels, int spatial)
{
    for (int b = 0; b < batch; b++)
        for (int c = 0; c < channels; c++) {
            float *p = x + ((size_t)b * channels + c) * spatial;
            for (int s = 0; s < spatial; s++) p[s] *= scale[c];
        }
}

void ecn_normalize(float *x, const float *mean, const float *var, int batch, int channels,
                   int spatial)
{
    for (int b = 0; b < batch; b++)
        for (int c = 0; c < channels; c++) {
            float *p = x + ((size_t)b * channels + c) * spatial;
            float m = mean[c], d = sqrtf(var[c]) + ECN_BN_EPS;
            for (int s = 0; s < spatial; s++) p[s] = (p[s] - m) / d;
        }
}

void ecn_softmax(const float *in, int n, float temp, int stride, float *out)
{
    float largest = -INFINITY;
    for (int i = 0; i < n; i++)
        if (in[i * stride] > largest) largest = in[i * stride];
    float sum = 0;
    for (int i = 0; i < n; i++) {
        float e = expf(in[i * stride] / temp - largest / temp);
        sum += e;
        out[i * stride] = e;
    }
    for (int i = 0; i < n; i++) out[i * stride] /= sum;
}
