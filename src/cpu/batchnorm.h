/* batchnorm.h - batch normalisation in training mode, over x[b][c][s].
 *
 * Forward (per channel c, over the N = batch*spatial values):
 *   mean = sum x / N,   var = sum (x - mean)^2 / (N - 1)        (Darknet's)
 *   x_norm = (x - mean) / sqrt(var + 1e-5)
 * then the caller scales and shifts: y = scale * x_norm + bias.
 * The running statistics used at inference move by 1% a batch.
 *
 * Backward, with g = dL/dx_norm (already multiplied by scale) and
 * s = sqrt(var + 1e-5), the exact derivative of the forward above:
 *   dvar  = sum g (x - mean) * -1/2 * s^-3
 *   dmean = sum g * -1/s
 *   dL/dx = g / s + dvar * 2 (x - mean) / (N - 1) + dmean / N
 * (Darknet divides the dvar term by N; the difference is O(1/N).)
 * Deltas here are -dL/d., as everywhere in ecnet: the formulas are linear,
 * so they hold for -dL as for dL. */
#ifndef ECN_BATCHNORM_H
#define ECN_BATCHNORM_H

#define ECN_BN_TRAIN_EPS .00001f

/* mean, var: per channel; x_norm may alias nothing. */
void ecn_bn_statistics(const float *x, int batch, int channels, int spatial, float *mean, float *var);
void ecn_bn_normalize(const float *x, const float *mean, const float *var, int batch, int channels,
                      int spatial, float *x_norm);
/* rolling = .99 rolling + .01 batch */
void ecn_bn_update_rolling(const float *mean, const float *var, int channels, float *rolling_mean,
                           float *rolling_var);
/* delta: -dL/dy on entry, -dL/dx on return.  Accumulates scale_grad. */
void ecn_bn_backward(const float *x, const float *x_norm, const float *mean, const float *var,
                     const float *scales, int batch, int channels, int spatial, float *delta,
                     float *scale_grad);
/* The same for one channel c, so that callers can spread channels over threads. */
void ecn_bn_statistics_channel(const float *x, int batch, int channels, int spatial, int c, float *mean,
                               float *var);
void ecn_bn_normalize_channel(const float *x, float mean, float var, int batch, int channels, int spatial,
                              int c, float *x_norm);
void ecn_bn_backward_channel(const float *x, const float *x_norm, float mean, float var, float scale,
                             int batch, int channels, int spatial, int c, float *delta, float *scale_grad);
/* bias_grad[c] += sum over batch and spatial of delta */
void ecn_bias_backward(const float *delta, int batch, int channels, int spatial, float *bias_grad);

#endif
