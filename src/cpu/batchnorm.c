/* batchnorm.c - see batchnorm.h for the maths. */
#include "batchnorm.h"

#include <math.h>
#include <stddef.h>

#define AT(x, b, c, s) ((x)[((size_t)(b) * channels + (c)) * spatial + (s)])

void ecn_bn_statistics_channel(const float *x, int batch, int channels, int spatial, int c, float *mean,
                               float *var)
{
    double n = (double)batch * spatial, sum = 0, sq = 0;
    for (int b = 0; b < batch; b++) {
        const float *p = &AT(x, b, c, 0);
        float part = 0;
        for (int s = 0; s < spatial; s++) part += p[s];
        sum += part;
    }
    float m = (float)(sum / n);
    for (int b = 0; b < batch; b++) {
        const float *p = &AT(x, b, c, 0);
        float part = 0;
        for (int s = 0; s < spatial; s++) part += (p[s] - m) * (p[s] - m);
        sq += part;
    }
    *mean = m;
    *var = (float)(n > 1 ? sq / (n - 1) : 0);
}

void ecn_bn_statistics(const float *x, int batch, int channels, int spatial, float *mean, float *var)
{
    for (int c = 0; c < channels; c++) ecn_bn_statistics_channel(x, batch, channels, spatial, c, &mean[c], &var[c]);
}

void ecn_bn_normalize_channel(const float *x, float mean, float var, int batch, int channels, int spatial,
                              int c, float *x_norm)
{
    float inv = 1.f / sqrtf(var + ECN_BN_TRAIN_EPS);
    for (int b = 0; b < batch; b++) {
        const float *p = &AT(x, b, c, 0);
        float *q = &AT(x_norm, b, c, 0);
        for (int s = 0; s < spatial; s++) q[s] = (p[s] - mean) * inv;
    }
}

void ecn_bn_normalize(const float *x, const float *mean, const float *var, int batch, int channels,
                      int spatial, float *x_norm)
{
    for (int c = 0; c < channels; c++) ecn_bn_normalize_channel(x, mean[c], var[c], batch, channels, spatial, c, x_norm);
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
        for (int b = 0; b < batch; b++) {
            const float *p = &AT(delta, b, c, 0);
            float part = 0;
            for (int s = 0; s < spatial; s++) part += p[s];
            sum += part;
        }
        bias_grad[c] += (float)sum;
    }
}

void ecn_bn_backward_channel(const float *x, const float *x_norm, float mean, float var, float scale,
                             int batch, int channels, int spatial, int c, float *delta, float *scale_grad)
{
    double n = (double)batch * spatial, dscale = 0, dvar = 0, dmean = 0;
    float inv = 1.f / sqrtf(var + ECN_BN_TRAIN_EPS);
    for (int b = 0; b < batch; b++) {
        const float *d = &AT(delta, b, c, 0), *xn = &AT(x_norm, b, c, 0), *xx = &AT(x, b, c, 0);
        float ps = 0, pv = 0, pm = 0;
        for (int s = 0; s < spatial; s++) {
            ps += d[s] * xn[s];
            pv += d[s] * (xx[s] - mean);
            pm += d[s];
        }
        dscale += ps, dvar += pv, dmean += pm;
    }
    *scale_grad += (float)dscale;
    dvar *= scale * -0.5 * (double)inv * inv * inv;
    dmean *= -(double)scale * inv;
    float a = scale * inv, bcoef = (float)(dvar * (n > 1 ? 2.0 / (n - 1) : 0)), k = (float)(dmean / n);
    for (int b = 0; b < batch; b++) {
        float *d = &AT(delta, b, c, 0);
        const float *xx = &AT(x, b, c, 0);
        for (int s = 0; s < spatial; s++) d[s] = d[s] * a + bcoef * (xx[s] - mean) + k;
    }
}

void ecn_bn_backward(const float *x, const float *x_norm, const float *mean, const float *var,
                     const float *scales, int batch, int channels, int spatial, float *delta,
                     float *scale_grad)
{
    for (int c = 0; c < channels; c++)
        ecn_bn_backward_channel(x, x_norm, mean[c], var[c], scales[c], batch, channels, spatial, c, delta,
                                &scale_grad[c]);
}
