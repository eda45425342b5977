/* batchnorm.c - see batchnorm.h for the maths. */
#include "batchnorm.h"

#include <math.h>
#include <stddef.h>

#define AT(x, b, c, s) ((x)[((size_t)(b) * channels + (c)) * spatial + (s)])

void ecn_bn_statistics(const float *x, int batch, int channels, int spatial, float *mean, float *var)
{
    double n = (double)batch * spatial;
    for (int c = 0; c < channels; c++) {
        double sum = 0, sq = 0;
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) sum += AT(x, b, c, s);
        double m = sum / n;
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) {
                double d = AT(x, b, c, s) - m;
                sq += d * d;
            }
        mean[c] = (float)m;
        var[c] = (float)(n > 1 ? sq / (n - 1) : 0);
    }
}

void ecn_bn_normalize(const float *x, const float *mean, const float *var, int batch, int channels,
                      int spatial, float *x_norm)
{
    for (int c = 0; c < channels; c++) {
        float inv = 1.f / sqrtf(var[c] + ECN_BN_TRAIN_EPS);
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) AT(x_norm, b, c, s) = (AT(x, b, c, s) - mean[c]) * inv;
    }
}

void ecn_bn_update_rolling(const float *mean, const float *var, int channels, float *rolling_mean,
                           float *rolling_var)
{
    for (int c = 0; c < channels; c++) {
        rolling_mean[c] = .99f * rolling_mean[c] + .01f * mean[c];
        rolling_var[c] = .99f * rolling_var[c] + .01f * var[c];
    }
}

void ecn_bias_backward(const float *delta, int batch, int channels, int spatial, float *bias_grad)
{
    for (int c = 0; c < channels; c++) {
        double sum = 0;
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) sum += AT(delta, b, c, s);
        bias_grad[c] += (float)sum;
    }
}

void ecn_bn_backward(const float *x, const float *x_norm, const float *mean, const float *var,
                     const float *scales, int batch, int channels, int spatial, float *delta,
                     float *scale_grad)
{
    double n = (double)batch * spatial;
    for (int c = 0; c < channels; c++) {
        double dscale = 0, dvar = 0, dmean = 0;
        double inv = 1.0 / sqrt((double)var[c] + ECN_BN_TRAIN_EPS);
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) {
                double d = AT(delta, b, c, s);
                dscale += d * AT(x_norm, b, c, s);
                double g = d * scales[c];
                dvar += g * (AT(x, b, c, s) - mean[c]);
                dmean += g;
            }
        scale_grad[c] += (float)dscale;
        dvar *= -0.5 * inv * inv * inv;
        dmean *= -inv;
        double var_term = n > 1 ? 2.0 / (n - 1) : 0;
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < spatial; s++) {
                double g = AT(delta, b, c, s) * scales[c];
                AT(delta, b, c, s) = (float)(g * inv + dvar * var_term * (AT(x, b, c, s) - mean[c]) + dmean / n);
            }
    }
}
