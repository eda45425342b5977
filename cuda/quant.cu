/* quant.cu - the split's quantizer and bit packing, bit for bit as
 * src/split/quant.c, so that only the packed symbols need to leave the GPU.
 *
 * Ranges (min-max): per group of values, lo = min and hi = max of the finite
 * ones (lo = hi = 0 when there is none).  One block per group; among equal
 * extremes (-0 and +0) the first in memory wins, as in the CPU's scan.
 *
 * Affine codes, bits B in 1..8, Q = 2^B - 1, in double as the CPU:
 *   v = (x is NaN ? 0 : x),  v = (v - lo) * (hi > lo ? Q / (hi - lo) : 0)
 *   v = 0 if !(v > 0),  v = Q if v > Q,  q = (uint8_t)(v + 0.5)
 *   dequantized: x' = (float)(lo + q * ((hi - lo) / Q))
 * Each operation is a round-to-nearest intrinsic, so nothing is fused into
 * an FMA and every step rounds exactly as on the CPU.
 * Half (B = 16): ecn_half_from_float / ecn_float_from_half by hand (round to
 * nearest even, subnormals, Inf and NaN kept), two bytes little-endian.
 * Float (B = 32): the value's four bytes, little-endian.
 *
 * Packing, LSB first: symbol i takes stream bits i*B .. i*B+B-1, stream bit
 * k is bit k%8 of byte k/8, the last byte padded with zeros.  One thread per
 * packed byte gathers the symbols that overlap it; one thread per symbol
 * unpacks.
 */
#include <math.h>
#include <stdio.h>

#include "common.cuh"

/* ---- ranges ---------------------------------------------------------- */

/* Does (v, i) come before (best, at) as the CPU's scan would keep it: a
 * smaller value (or larger, for the max), or an equal one (-0 == +0)
 * met earlier?  So the result is the CPU's to the bit, sign of zero included. */
static __device__ __forceinline__ int better(float v, size_t i, float best, size_t at, int want_max)
{
    return (want_max ? v > best : v < best) || (v == best && i < at);
}

__global__ void minmax_kernel(const float *__restrict__ x, size_t group, float *lo, float *hi)
{
    __shared__ float smin[ECN_THREADS], smax[ECN_THREADS];
    __shared__ size_t imin[ECN_THREADS], imax[ECN_THREADS];
    const float *g = x + (size_t)blockIdx.x * group;
    float mn = INFINITY, mx = -INFINITY;
    size_t at_mn = (size_t)-1, at_mx = (size_t)-1;
    for (size_t i = threadIdx.x; i < group; i += blockDim.x) {
        float v = g[i];
        if (!isfinite(v)) continue;
        if (v < mn) mn = v, at_mn = i;
        if (v > mx) mx = v, at_mx = i;
    }
    int t = threadIdx.x;
    smin[t] = mn, smax[t] = mx, imin[t] = at_mn, imax[t] = at_mx;
    __syncthreads();
    for (int half = ECN_THREADS / 2; half > 0; half /= 2) {
        if (t < half) {
            int o = t + half;
            if (better(smin[o], imin[o], smin[t], imin[t], 0)) smin[t] = smin[o], imin[t] = imin[o];
            if (better(smax[o], imax[o], smax[t], imax[t], 1)) smax[t] = smax[o], imax[t] = imax[o];
        }
        __syncthreads();
    }
    if (t == 0) {
        int none = imin[0] == (size_t)-1;
        lo[blockIdx.x] = none ? 0.f : smin[0];
        hi[blockIdx.x] = none ? 0.f : smax[0];
    }
}

/* ---- IEEE half --------------------------------------------------------- */

static __device__ unsigned short half_from_float(float f)
{
    unsigned x = __float_as_uint(f);
    unsigned short sign = (unsigned short)((x >> 16) & 0x8000u);
    unsigned ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {
        if (ax == 0x7f800000u) return sign | 0x7c00u;
        return (unsigned short)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    }
    if (ax >= 0x477ff000u) return sign | 0x7c00u;
    if (ax >= 0x38800000u) {
        unsigned h = (ax - 0x38000000u) >> 13, rem = ax & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
        return (unsigned short)(sign | h);
    }
    unsigned e = ax >> 23;
    if (e < 102) return sign;
    unsigned m = (ax & 0x7fffffu) | 0x800000u, shift = 126 - e;
    unsigned h = m >> shift, rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1u))) h++;
    return (unsigned short)(sign | h);
}

static __device__ float float_from_half(unsigned short h)
{
    unsigned sign = (unsigned)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 31) return __uint_as_float(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0) return __uint_as_float(sign);
        unsigned fe = 113;
        while (!(m & 0x400u)) m <<= 1, fe--;
        return __uint_as_float(sign | fe << 23 | (m & 0x3ffu) << 13);
    }
    return __uint_as_float(sign | (e + 112) << 23 | m << 13);
}

/* ---- coding -------------------------------------------------------------- */

static __device__ unsigned char affine_code(float x, float lo, float hi, int bits)
{
    const double top = (double)((1u << bits) - 1), dlo = lo;
    const double range = __dsub_rn((double)hi, dlo);
    const double inv = range > 0 ? __ddiv_rn(top, range) : 0.0;
    double v = x == x ? (double)x : 0.0;
    v = __dmul_rn(__dsub_rn(v, dlo), inv);
    if (!(v > 0.0)) v = 0.0;
    if (v > top) v = top;
    return (unsigned char)(unsigned)__dadd_rn(v, 0.5);
}

__global__ void quantize_kernel(const float *__restrict__ x, size_t n, size_t group, const float *lo,
                                const float *hi, int bits, unsigned char *__restrict__ sym)
{
    ECN_FOR_EACH(i, n)
    {
        if (bits == 32) {
            unsigned u = __float_as_uint(x[i]);
            for (int k = 0; k < 4; k++) sym[4 * i + k] = (unsigned char)(u >> (8 * k));
        } else if (bits == 16) {
            unsigned short h = half_from_float(x[i]);
            sym[2 * i] = (unsigned char)h, sym[2 * i + 1] = (unsigned char)(h >> 8);
        } else {
            size_t g = i / group;
            sym[i] = affine_code(x[i], lo[g], hi[g], bits);
        }
    }
}

__global__ void dequantize_kernel(const unsigned char *__restrict__ sym, size_t n, size_t group, const float *lo,
                                  const float *hi, int bits, float *__restrict__ x)
{
    ECN_FOR_EACH(i, n)
    {
        if (bits == 32) {
            unsigned u = 0;
            for (int k = 0; k < 4; k++) u |= (unsigned)sym[4 * i + k] << (8 * k);
            x[i] = __uint_as_float(u);
        } else if (bits == 16) {
            x[i] = float_from_half((unsigned short)(sym[2 * i] | sym[2 * i + 1] << 8));
        } else {
            size_t g = i / group;
            const double l = lo[g], top = (double)((1u << bits) - 1);
            const double step = __ddiv_rn(__dsub_rn((double)hi[g], l), top);
            x[i] = (float)__dadd_rn(l, __dmul_rn((double)sym[i], step));
        }
    }
}

/* ---- packing ------------------------------------------------------------- */

__global__ void pack_kernel(const unsigned char *__restrict__ sym, size_t n, int bits, size_t bytes,
                            unsigned char *__restrict__ out)
{
    const unsigned mask = (1u << bits) - 1;
    ECN_FOR_EACH(j, bytes)
    {
        size_t first_bit = 8 * j, first = first_bit / bits, last = (first_bit + 7) / bits;
        if (last >= n) last = n - 1;
        unsigned acc = 0;
        for (size_t i = first; i <= last; i++) {
            long long shift = (long long)(i * bits) - (long long)first_bit;
            unsigned v = sym[i] & mask;
            acc |= shift >= 0 ? v << shift : v >> -shift;
        }
        out[j] = (unsigned char)acc;
    }
}

__global__ void unpack_kernel(const unsigned char *__restrict__ in, size_t n, int bits,
                              unsigned char *__restrict__ sym)
{
    const unsigned mask = (1u << bits) - 1;
    ECN_FOR_EACH(i, n)
    {
        size_t bit = i * bits, byte = bit / 8;
        int off = (int)(bit % 8);
        unsigned v = in[byte] >> off;
        if (off + bits > 8) v |= (unsigned)in[byte + 1] << (8 - off);
        sym[i] = (unsigned char)(v & mask);
    }
}

/* ---- launchers ------------------------------------------------------------- */

static int bad_bits(int bits, int affine_only, ecn_err *err)
{
    int ok = (bits >= 1 && bits <= 8) || (!affine_only && (bits == 16 || bits == 32));
    if (ok) return 0;
    if (err) snprintf(err->msg, sizeof err->msg, "GPU quantizer: %d bits is not supported", bits);
    return -1;
}

static int bad_groups(size_t n, int groups, ecn_err *err)
{
    if (groups > 0 && n % (size_t)groups == 0) return 0;
    if (err) snprintf(err->msg, sizeof err->msg, "GPU quantizer: %zu values do not split into %d groups", n, groups);
    return -1;
}

int ecn_gpu_quant_minmax(const float *x, size_t n, int groups, float *lo, float *hi, ecn_err *err)
{
    if (bad_groups(n, groups, err)) return -1;
    minmax_kernel<<<(unsigned)groups, ECN_THREADS>>>(x, n / (size_t)groups, lo, hi);
    return ecn_gpu_check("quantizer range kernel", err);
}

int ecn_gpu_quantize(const float *x, size_t n, int groups, const float *lo, const float *hi, int bits,
                     uint8_t *sym, ecn_err *err)
{
    if (bad_bits(bits, 0, err) || bad_groups(n, groups, err)) return -1;
    if (!n) return 0;
    quantize_kernel<<<ecn_blocks(n), ECN_THREADS>>>(x, n, n / (size_t)groups, lo, hi, bits, sym);
    return ecn_gpu_check("quantize kernel", err);
}

int ecn_gpu_dequantize(const uint8_t *sym, size_t n, int groups, const float *lo, const float *hi, int bits,
                       float *x, ecn_err *err)
{
    if (bad_bits(bits, 0, err) || bad_groups(n, groups, err)) return -1;
    if (!n) return 0;
    dequantize_kernel<<<ecn_blocks(n), ECN_THREADS>>>(sym, n, n / (size_t)groups, lo, hi, bits, x);
    return ecn_gpu_check("dequantize kernel", err);
}

int ecn_gpu_pack(const uint8_t *sym, size_t n, int bits, uint8_t *out, ecn_err *err)
{
    if (bad_bits(bits, 1, err)) return -1;
    size_t bytes = n / 8 * (size_t)bits + (n % 8 * (size_t)bits + 7) / 8;
    if (!bytes) return 0;
    if (bits == 8) return ecn_gpu_copy(out, sym, n, err);
    pack_kernel<<<ecn_blocks(bytes), ECN_THREADS>>>(sym, n, bits, bytes, out);
    return ecn_gpu_check("pack kernel", err);
}

int ecn_gpu_unpack(const uint8_t *in, size_t n, int bits, uint8_t *sym, ecn_err *err)
{
    if (bad_bits(bits, 1, err)) return -1;
    if (!n) return 0;
    if (bits == 8) return ecn_gpu_copy(sym, in, n, err);
    unpack_kernel<<<ecn_blocks(n), ECN_THREADS>>>(in, n, bits, sym);
    return ecn_gpu_check("unpack kernel", err);
}
