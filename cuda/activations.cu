/* activations.cu - bias, batch norm and activation, fused.
 *
 * For value s of channel c of image b (x laid out b, c, s):
 *
 *   y = act(bn(x) + bias[c])
 *   bn(x) = scale[c] * ((x - mean[c]) / (sqrt(var[c]) + 1e-6))   (unfolded batch norm)
 *   bn(x) = x                                                   (no batch norm, or folded)
 *
 * the order of operations of the CPU's convolutional, connected and
 * batchnorm layers (normalise, scale, add the bias, activate).  The
 * multiply and the add are written with round-to-nearest intrinsics so the
 * compiler cannot fuse them into one FMA: the affine part then equals the
 * CPU's bit for bit, and only the activations' expf may differ (by an ulp
 * or two).  Activations are ecn_dev_activate (common.cuh), formula for
 * formula those of src/cpu/activations.c.
 */
#include "common.cuh"
#include "cpu/blas.h"

__global__ void activate_kernel(float *x, size_t n, int act)
{
    ECN_FOR_EACH(i, n) x[i] = ecn_dev_activate(x[i], act);
}

__global__ void bias_activate_kernel(const float *x, float *y, const float *__restrict__ bias,
                                     const float *__restrict__ scale, const float *__restrict__ mean,
                                     const float *__restrict__ var, int channels, int spatial, size_t n, int act)
{
    ECN_FOR_EACH(i, n)
    {
        int c = (int)(i / spatial % channels);
        float v = x[i];
        if (scale) {
            v = (v - mean[c]) / (sqrtf(var[c]) + ECN_BN_EPS);
            v = __fmul_rn(v, scale[c]);
        }
        y[i] = ecn_dev_activate(__fadd_rn(v, bias[c]), act);
    }
}

int ecn_gpu_activate(float *x, size_t n, int act, ecn_err *err)
{
    if (!n || act == ECN_LINEAR) return 0;
    activate_kernel<<<ecn_blocks(n), ECN_THREADS>>>(x, n, act);
    return ecn_gpu_check("activation kernel", err);
}

int ecn_gpu_bias_activate(const float *x, float *y, const float *bias, const float *scale, const float *mean,
                          const float *var, int batch, int channels, int spatial, int act, ecn_err *err)
{
    size_t n = (size_t)batch * channels * spatial;
    if (!n) return 0;
    bias_activate_kernel<<<ecn_blocks(n), ECN_THREADS>>>(x, y, bias, scale, mean, var, channels, spatial, n, act);
    return ecn_gpu_check("bias and activation kernel", err);
}
